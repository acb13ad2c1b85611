package dev.patchbay.server.security;

import io.grpc.Context;
import java.util.HexFormat;

/**
 * Who is calling, as far as the server tells callers apart: with bearer tokens on, the token (named by the first
 * 8 bytes of its SHA-256 digest, so the token itself is never kept or logged); without, nobody ("").
 * {@link BearerTokens} sets it in the call's context; what callers own (steering vectors) is kept under it.
 */
public final class Caller {
    static final Context.Key<String> KEY = Context.key("patchbay-caller");

    private Caller() {}

    /** The current call's caller, "" where callers are not told apart. */
    public static String current() {
        String caller = KEY.get();
        return caller == null ? "" : caller;
    }

    /** The caller a token's digest names. */
    static String ofDigest(byte[] digest) {
        return "token:" + HexFormat.of().formatHex(digest, 0, 8);
    }
}
