package dev.patchbay.server.rpc;

import dev.patchbay.server.security.BearerTokens;
import io.grpc.HandlerRegistry;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import java.io.InputStream;

/**
 * Methods no service has. grpc-java answers them UNIMPLEMENTED before any interceptor runs, so without a token anyone
 * could tell which methods exist; here an unknown method is authenticated like every other call first (where tokens
 * are on), then refused UNIMPLEMENTED, its name cut to {@link ErrorText#MAX_ECHO} characters.
 */
public final class UnknownMethods extends HandlerRegistry {
    private static final MethodDescriptor.Marshaller<InputStream> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(InputStream value) {
            return value;
        }

        @Override
        public InputStream parse(InputStream stream) {
            return stream;
        }
    };

    private final BearerTokens tokens;

    /** @param tokens the accepted bearer tokens, or null where none are required */
    public UnknownMethods(BearerTokens tokens) {
        this.tokens = tokens;
    }

    @Override
    public ServerMethodDefinition<?, ?> lookupMethod(String methodName, String authority) {
        MethodDescriptor<InputStream, InputStream> method = MethodDescriptor.<InputStream, InputStream>newBuilder()
                .setType(MethodDescriptor.MethodType.UNKNOWN)
                .setFullMethodName(methodName)
                .setRequestMarshaller(BYTES)
                .setResponseMarshaller(BYTES)
                .build();
        ServerCallHandler<InputStream, InputStream> unimplemented = (call, headers) -> {
            call.close(
                    Status.UNIMPLEMENTED.withDescription("Method not found: " + ErrorText.echo(methodName)),
                    new Metadata());
            return new ServerCall.Listener<>() {};
        };
        ServerCallHandler<InputStream, InputStream> handler =
                tokens == null ? unimplemented : (call, headers) -> tokens.interceptCall(call, headers, unimplemented);
        return ServerMethodDefinition.create(method, handler);
    }
}
