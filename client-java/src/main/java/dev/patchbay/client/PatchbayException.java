package dev.patchbay.client;

import io.grpc.Status;

/** A request the server refused or failed; the message is the server's own. */
public final class PatchbayException extends RuntimeException {
    private final Status.Code code;

    PatchbayException(Status status, Throwable cause) {
        super(status.getCode() + ": " + status.getDescription(), cause);
        this.code = status.getCode();
    }

    /** The gRPC status code, e.g. INVALID_ARGUMENT or NOT_FOUND. */
    public Status.Code code() {
        return code;
    }
}
