package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Causal multi-head attention from per-head q, k, v, with the hook sites every architecture shares:
 * {@code hook_attn_scores} (soft-capped where the model caps, masked, pre-softmax), {@code hook_pattern} and {@code hook_z}. Eager on purpose:
 * the QK fix needs the probabilities and their gradients, which fused kernels hide.
 */
final class Attention {
    private Attention() {}

    /** Layer {@code layer}'s attention as the model configures it: its scale, soft-cap and window. */
    static NDArray attend(HookContext ctx, ModelConfig config, int layer, NDArray q, NDArray k, NDArray v) {
        return attend(
                ctx,
                layer,
                q,
                k,
                v,
                config.attnScale(layer),
                config.attnSoftcap(),
                config.layers().get(layer).slidingWindow());
    }

    /**
     * @param q [B, T, H, d_head] (after rotary where the model has it)
     * @param k [B, T, H_kv, d_head]
     * @param v [B, T, H_kv, d_head]
     * @param softcap c of soft-capping, scores = c tanh(scale q.k / c) before the mask (Gemma 2); 0 for none
     * @param window keys a query sees with a sliding window, itself included; 0 for every earlier key
     * @return z [B, T, H, d_head]
     */
    private static NDArray attend(
            HookContext ctx, int layer, NDArray q, NDArray k, NDArray v, double scale, double softcap, int window) {
        if (ctx.kvCache() != null) {
            // A generation step: the earlier positions' keys and values, then this step's.
            NDArray[] full = ctx.kvCache().extend(layer, k, v);
            k = full[0];
            v = full[1];
        }
        int groups = (int) (q.getShape().get(2) / k.getShape().get(2));
        NDArray keys = expandKvHeads(k, groups).transpose(0, 2, 3, 1); // [B, H, d, T_keys]
        NDArray values = expandKvHeads(v, groups).transpose(0, 2, 1, 3); // [B, H, T_keys, d]
        NDArray scores = Functional.softcap(
                        Scalars.times(q.transpose(0, 2, 1, 3).matMul(keys), scale), softcap)
                .add(ctx.causalMask(q.getShape().get(1), k.getShape().get(1), q.getDataType(), window));
        scores = ctx.apply(HookSites.attn(layer, "attn_scores"), scores);
        // In half precision the softmax is taken in float32, as transformers upcasts it.
        NDArray pattern = ctx.apply(
                HookSites.attn(layer, "pattern"),
                Precision.narrowed(Precision.widened(scores).softmax(-1), scores.getDataType()));
        NDArray z = pattern.matMul(values).transpose(0, 2, 1, 3);
        return ctx.apply(HookSites.attn(layer, "z"), z);
    }

    /** Grouped-query attention: query head h reads key/value head h / groups. */
    private static NDArray expandKvHeads(NDArray x, int groups) {
        if (groups == 1) {
            return x;
        }
        Shape s = x.getShape();
        return x.expandDims(3)
                .broadcast(new Shape(s.get(0), s.get(1), s.get(2), groups, s.get(3)))
                .reshape(s.get(0), s.get(1), s.get(2) * groups, s.get(3));
    }

    /** [B, T, H * d] to [B, T, H, d]. */
    static NDArray splitHeads(NDArray x, long heads) {
        Shape s = x.getShape();
        return x.reshape(s.get(0), s.get(1), heads, s.get(2) / heads);
    }

    /** [B, T, H, d] to [B, T, H * d]. */
    static NDArray mergeHeads(NDArray x) {
        Shape s = x.getShape();
        return x.reshape(s.get(0), s.get(1), s.get(2) * s.get(3));
    }
}
