package dev.patchbay.server.rpc;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Request bytes that do not parse as the method's message end that call with INVALID_ARGUMENT. grpc-java's own
 * path answers UNKNOWN and logs a stack trace per message (3,150 fuzzed messages wrote 20 MB of them); here a
 * client's malformed messages are logged at most once a minute per peer, with the count since the last line.
 */
public final class MalformedMessages {
    private static final Logger log = LoggerFactory.getLogger(MalformedMessages.class);
    private static final long LOG_INTERVAL_NANOS = Duration.ofMinutes(1).toNanos();

    private final Map<String, Peer> peers = new ConcurrentHashMap<>();

    /** The last time a peer's malformed message was logged, and how many came since. */
    private static final class Peer {
        final AtomicLong suppressed = new AtomicLong();
        volatile long loggedAt;
    }

    /**
     * {@code service} with every method's request parsing guarded; its schema stays, so server reflection still
     * lists it.
     */
    public ServerServiceDefinition guard(ServerServiceDefinition service) {
        ServiceDescriptor original = service.getServiceDescriptor();
        ServiceDescriptor.Builder descriptor =
                ServiceDescriptor.newBuilder(original.getName()).setSchemaDescriptor(original.getSchemaDescriptor());
        List<ServerMethodDefinition<?, ?>> methods = new ArrayList<>();
        for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
            ServerMethodDefinition<?, ?> guarded = guard(method);
            descriptor.addMethod(guarded.getMethodDescriptor());
            methods.add(guarded);
        }
        ServerServiceDefinition.Builder out = ServerServiceDefinition.builder(descriptor.build());
        methods.forEach(out::addMethod);
        return out.build();
    }

    private <Q, R> ServerMethodDefinition<Q, R> guard(ServerMethodDefinition<Q, R> method) {
        MethodDescriptor<Q, R> descriptor = method.getMethodDescriptor();
        MethodDescriptor<Q, R> lenient = descriptor.toBuilder()
                .setRequestMarshaller(new Lenient<>(descriptor.getRequestMarshaller()))
                .build();
        ServerCallHandler<Q, R> handler = method.getServerCallHandler();
        return ServerMethodDefinition.create(lenient, (call, headers) -> start(call, headers, handler));
    }

    private <Q, R> ServerCall.Listener<Q> start(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        ServerCall.Listener<Q> delegate = next.startCall(call, headers);
        return new ServerCall.Listener<>() {
            private boolean refused;

            @Override
            public void onMessage(Q message) {
                if (refused) {
                    return;
                }
                if (message == null) { // what Lenient returns for bytes that do not parse
                    refused = true;
                    logMalformed(call);
                    call.close(
                            Status.INVALID_ARGUMENT.withDescription("the request is not a valid "
                                    + call.getMethodDescriptor().getFullMethodName() + " message"),
                            new Metadata());
                    return;
                }
                delegate.onMessage(message);
            }

            @Override
            public void onHalfClose() {
                if (!refused) {
                    delegate.onHalfClose();
                }
            }

            @Override
            public void onCancel() {
                delegate.onCancel();
            }

            @Override
            public void onComplete() {
                delegate.onComplete();
            }

            @Override
            public void onReady() {
                if (!refused) {
                    delegate.onReady();
                }
            }
        };
    }

    private void logMalformed(ServerCall<?, ?> call) {
        SocketAddress address = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        String peer = address instanceof InetSocketAddress inet
                ? inet.getAddress().getHostAddress()
                : String.valueOf(address);
        Peer p = peers.computeIfAbsent(peer, k -> new Peer());
        long now = System.nanoTime();
        synchronized (p) {
            if (p.loggedAt != 0 && now - p.loggedAt < LOG_INTERVAL_NANOS) {
                p.suppressed.incrementAndGet();
                return;
            }
            p.loggedAt = now;
        }
        log.warn(
                "malformed {} message from {} ({} more since the last line); answered INVALID_ARGUMENT",
                call.getMethodDescriptor().getFullMethodName(),
                peer,
                p.suppressed.getAndSet(0));
    }

    /** Parses as the real marshaller does, but answers null for bytes that are not a valid message. */
    private record Lenient<Q>(MethodDescriptor.Marshaller<Q> real) implements MethodDescriptor.Marshaller<Q> {
        @Override
        public InputStream stream(Q value) {
            return real.stream(value);
        }

        @Override
        public Q parse(InputStream stream) {
            try {
                return real.parse(stream);
            } catch (RuntimeException e) { // grpc's proto marshaller wraps parse errors in StatusRuntimeException
                return null;
            }
        }
    }
}
