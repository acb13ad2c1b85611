package dev.patchbay.model;

import ai.djl.ndarray.NDArray;

/** One layer of a transformer: reads the residual stream, returns it with the layer's writes added. */
public interface TransformerBlock {
    /**
     * @param resid the residual stream entering the layer, [B, T, d_model], already hooked as resid_pre
     * @return the residual stream leaving it, not yet hooked as resid_post (the caller may stop its gradient first)
     */
    NDArray forward(NDArray resid, HookContext ctx);

    /**
     * Each head's change of this layer's attention write to the residual stream, with only that head's output
     * moved from {@code cleanZ} to {@code noiseZ} ([B, T, H, d_head]): [B, T, H, d_model]. See
     * {@link HookedTransformer#headWriteChanges}.
     */
    NDArray headWriteChanges(NDArray cleanZ, NDArray noiseZ);

    /** Whether the heads' writes add up to the attention output (no norm after the output projection). */
    default boolean headWritesAdd() {
        return true;
    }
}
