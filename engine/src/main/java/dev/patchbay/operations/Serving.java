package dev.patchbay.operations;

import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.passes.Budget;

/**
 * What an operation is planned against: the model, its memory budget for one batched pass, and the limits of the
 * front end that received the request.
 */
public record Serving(HookedTransformer model, Budget budget, RequestLimits limits) {
    public ModelConfig config() {
        return model.config();
    }
}
