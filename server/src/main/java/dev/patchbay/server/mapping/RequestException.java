package dev.patchbay.server.mapping;

import io.grpc.Status;

/** A request the server refuses, with the status to answer and a message naming the field at fault. */
public final class RequestException extends Exception {
    private final Status status;

    public RequestException(Status.Code code, String message) {
        super(message);
        this.status = Status.fromCode(code).withDescription(message);
    }

    public Status status() {
        return status;
    }

    public static RequestException invalid(String message) {
        return new RequestException(Status.Code.INVALID_ARGUMENT, message);
    }

    public static RequestException tooLarge(String message) {
        return new RequestException(Status.Code.RESOURCE_EXHAUSTED, message);
    }
}
