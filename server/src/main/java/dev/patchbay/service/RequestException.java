package dev.patchbay.service;

import io.grpc.Status;

/** A request the server refuses, with the status to answer and a message naming the field at fault. */
final class RequestException extends Exception {
    private final Status status;

    RequestException(Status.Code code, String message) {
        super(message);
        this.status = Status.fromCode(code).withDescription(message);
    }

    Status status() {
        return status;
    }

    static RequestException invalid(String message) {
        return new RequestException(Status.Code.INVALID_ARGUMENT, message);
    }

    static RequestException tooLarge(String message) {
        return new RequestException(Status.Code.RESOURCE_EXHAUSTED, message);
    }
}
