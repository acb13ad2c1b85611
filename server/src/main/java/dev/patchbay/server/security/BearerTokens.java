package dev.patchbay.server.security;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;

/**
 * Bearer-token authentication as gRPC clients send it ({@code authorization: Bearer <token>} metadata, which
 * Python's {@code grpc.access_token_call_credentials} and Java's call credentials produce). A call without a
 * valid token ends with UNAUTHENTICATED before its handler runs. Tokens are compared as SHA-256 digests with
 * {@link MessageDigest#isEqual}, which takes the same time wherever two digests differ, so response times do not
 * leak how much of a guess was right.
 */
public final class BearerTokens implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final String SCHEME = "Bearer ";
    /** Shorter tokens are guessable; 16 characters of a random token are over 64 bits. */
    static final int MIN_LENGTH = 16;

    private final List<byte[]> digests;

    private BearerTokens(List<byte[]> digests) {
        this.digests = digests;
    }

    /** Reads one token a line; blank lines and lines starting with # are skipped. */
    public static BearerTokens read(Path file) throws IOException {
        List<byte[]> digests = new ArrayList<>();
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String token = lines.get(i).strip();
            if (token.isEmpty() || token.startsWith("#")) {
                continue;
            }
            if (token.length() < MIN_LENGTH || token.chars().anyMatch(c -> c <= ' ' || c > '~')) {
                throw new IllegalArgumentException("--auth-tokens: " + file + " line " + (i + 1) + ": a token must be"
                        + " at least " + MIN_LENGTH + " printable ASCII characters without spaces");
            }
            digests.add(digest(token));
        }
        if (digests.isEmpty()) {
            throw new IllegalArgumentException("--auth-tokens: " + file + " has no tokens");
        }
        return new BearerTokens(digests);
    }

    /** Whether {@code header} (the authorization metadata's value) carries an accepted token. */
    boolean accepts(String header) {
        return caller(header) != null;
    }

    /**
     * The caller whose accepted token {@code header} carries, or null. The scheme's case and the spaces around the
     * token are not significant ("bearer x" is accepted as "Bearer x" is).
     */
    private String caller(String header) {
        if (header == null || !header.regionMatches(true, 0, SCHEME, 0, SCHEME.length())) {
            return null;
        }
        byte[] offered = digest(header.substring(SCHEME.length()).strip());
        boolean found = false;
        for (byte[] d : digests) {
            found |= MessageDigest.isEqual(d, offered); // no early exit: every token is compared
        }
        return found ? Caller.ofDigest(offered) : null;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        String caller = caller(headers.get(AUTHORIZATION));
        if (caller == null) {
            call.close(
                    Status.UNAUTHENTICATED.withDescription(
                            "a valid bearer token is required (authorization: Bearer" + " <token>)"),
                    new Metadata());
            return new ServerCall.Listener<>() {};
        }
        return Contexts.interceptCall(Context.current().withValue(Caller.KEY, caller), call, headers, next);
    }

    private static byte[] digest(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
