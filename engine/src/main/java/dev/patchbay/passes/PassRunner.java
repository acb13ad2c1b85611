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

    static PassRunner direct(HookedTransformer model) {
        return new DirectRunner(model);
    }
}
