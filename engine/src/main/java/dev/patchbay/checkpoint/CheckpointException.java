package dev.patchbay.checkpoint;

import java.nio.file.Path;

/**
 * A checkpoint directory that cannot be loaded as given. The message always names the file, and the tensor
 * where one is at fault, so that a user can find what to fix without a stack trace.
 */
public final class CheckpointException extends RuntimeException {
    private final Path file;

    public CheckpointException(Path file, String message) {
        this(file, message, null);
    }

    public CheckpointException(Path file, String message, Throwable cause) {
        super(file + ": " + message, cause);
        this.file = file;
    }

    /** The file at fault. */
    public Path file() {
        return file;
    }
}
