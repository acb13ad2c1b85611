package dev.patchbay.server.rpc;

import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * Error messages quote what was sent (a node name, a word, a site) so that the caller sees what was wrong. Quoted
 * whole, a 1 MB node name made a 1 MB status, which the client's transport refused as over its metadata size, so the
 * caller saw that instead of INVALID_ARGUMENT. Every status the Patchbay service closes a call with passes through
 * {@link #interceptor()}: each run of text without spaces longer than {@link #MAX_ECHO} characters is cut, and the
 * whole message to {@link #MAX_MESSAGE}.
 */
public final class ErrorText {
    /** The most characters of one quoted input an error message keeps. */
    public static final int MAX_ECHO = 200;

    /** The most characters of a whole error message. */
    public static final int MAX_MESSAGE = 2000;

    private ErrorText() {}

    /** {@code input} as an error message may quote it: cut to {@link #MAX_ECHO} characters, saying how much was cut. */
    public static String echo(String input) {
        if (input == null || input.length() <= MAX_ECHO) {
            return input;
        }
        return input.substring(0, MAX_ECHO) + "...(" + (input.length() - MAX_ECHO) + " more characters)";
    }

    /** {@code message} with every overlong word cut as {@link #echo} cuts it, and the whole to {@link #MAX_MESSAGE}. */
    public static String shortened(String message) {
        if (message == null || message.length() <= MAX_ECHO) {
            return message;
        }
        StringBuilder out = new StringBuilder();
        int start = 0;
        for (int i = 0; i <= message.length(); i++) {
            if (i == message.length() || Character.isWhitespace(message.charAt(i))) {
                out.append(echo(message.substring(start, i)));
                if (i < message.length()) {
                    out.append(message.charAt(i));
                }
                start = i + 1;
            }
        }
        if (out.length() > MAX_MESSAGE) {
            int cut = out.length() - MAX_MESSAGE;
            out.setLength(MAX_MESSAGE);
            out.append("...(").append(cut).append(" more characters)");
        }
        return out.toString();
    }

    /** Shortens the description of every status a call closes with. */
    public static ServerInterceptor interceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(
                    ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                return next.startCall(
                        new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                            @Override
                            public void close(Status status, Metadata trailers) {
                                String description = status.getDescription();
                                String shorter = shortened(description);
                                super.close(
                                        shorter == null || shorter.equals(description)
                                                ? status
                                                : status.withDescription(shorter),
                                        trailers);
                            }
                        },
                        headers);
            }
        };
    }
}
