package dev.patchbay.passes;

import dev.patchbay.model.HookedTransformer;

/**
 * Where a method's passes run. In-process ({@link #direct}) they run on the calling thread; in the server they
 * queue for the model's device thread, which merges passes of concurrent requests into batches and serves clean
 * runs from a cache. Methods only orchestrate; all compute goes through {@link #run}, with a {@link Pass} value.
 */
public interface PassRunner {
    HookedTransformer model();

    /** Runs {@code pass} (perhaps in one batch with other requests' passes) and gives its own result. */
    <T> T run(Pass<T> pass);

    /** What this runner's passes did that a request's summary reports: cache use, shared batches. */
    PassTally tally();

    /**
     * Reserves {@code bytes} that the request keeps across its batches (a generation's KV caches) until the handle
     * is closed; {@code stepBytes} is one of its own batches, which must still fit beside it. In-process nothing is
     * reserved; a server refuses at once ({@link RetainedMemoryRefused}) what does not fit its memory budget now.
     */
    default Retained retain(long bytes, long stepBytes) {
        return () -> {};
    }

    /** Memory a request keeps; closing it gives the memory back. */
    @FunctionalInterface
    interface Retained extends AutoCloseable {
        @Override
        void close();
    }

    /** A reservation that does not fit the memory budget beside what other requests keep now. */
    final class RetainedMemoryRefused extends RuntimeException {
        public RetainedMemoryRefused(String message) {
            super(message);
        }
    }

    static PassRunner direct(HookedTransformer model) {
        return new DirectRunner(model);
    }
}
