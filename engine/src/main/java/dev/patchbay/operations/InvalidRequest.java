package dev.patchbay.operations;

/**
 * A request the engine refuses, with a message that names the field at fault: the user's error, as distinct from an
 * {@link IllegalArgumentException} or {@link IllegalStateException} raised inside a running operation, which is
 * Patchbay's own bug. A server answers {@link Kind#INVALID} with INVALID_ARGUMENT and {@link Kind#TOO_LARGE} with
 * RESOURCE_EXHAUSTED.
 */
public final class InvalidRequest extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why the request is refused. */
    public enum Kind {
        /** It is malformed or asks for something the model or method cannot do. */
        INVALID,
        /** It is well formed but over a limit: the server's, or the memory budget. */
        TOO_LARGE
    }

    private final Kind kind;

    private InvalidRequest(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public static InvalidRequest invalid(String message) {
        return new InvalidRequest(Kind.INVALID, message);
    }

    public static InvalidRequest tooLarge(String message) {
        return new InvalidRequest(Kind.TOO_LARGE, message);
    }

    public Kind kind() {
        return kind;
    }
}
