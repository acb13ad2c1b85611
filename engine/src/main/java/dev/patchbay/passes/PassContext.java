package dev.patchbay.passes;

import dev.patchbay.model.HookedTransformer;

/**
 * What a pass runs with: the model, and the clean-run store of the runner it runs on ({@link CleanStore#NONE} when
 * the runner keeps none).
 */
public record PassContext(HookedTransformer model, CleanStore cache) {
    /** No cache. */
    public static PassContext of(HookedTransformer model) {
        return new PassContext(model, CleanStore.NONE);
    }
}
