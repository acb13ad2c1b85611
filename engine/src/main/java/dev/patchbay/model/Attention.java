package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/**
 * Causal multi-head attention from per-head q, k, v, with the hook sites every architecture shares:
 * {@code hook_attn_scores} (soft-capped where the model caps, masked, pre-softmax), {@code hook_pattern} and {@code hook_z}. Eager on purpose:
 * the QK fix needs the probabilities and their gradients, which fused kernels hide.
 */
public final class Attention {
    private Attention() {}

    /** Layer {@code layer}'s attention as the model configures it: its scale, soft-cap and window. */
    public static NDArray attend(HookContext ctx, ModelConfig config, int layer, NDArray q, NDArray k, NDArray v) {
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
        List<KvCache> caches = ctx.kvCaches();
        if (caches.size() > 1) {
            return ctx.apply(HookSites.attn(layer, "z"), attendPerCache(ctx, layer, q, k, v, scale, softcap, window));
        }
        if (caches.size() == 1) {
            // A generation step: the earlier positions' keys and values, then this step's.
            NDArray[] full = caches.get(0).extend(layer, k, v);
            k = full[0];
            v = full[1];
        }
        NDArray scores = scores(ctx, q, k, scale, softcap, window);
        scores = ctx.apply(HookSites.attn(layer, "attn_scores"), scores);
        NDArray pattern = ctx.apply(HookSites.attn(layer, "pattern"), softmax(scores));
        return ctx.apply(HookSites.attn(layer, "z"), weighted(pattern, v, q));
    }

    /**
     * A step over sequences whose caches differ in length: each cache's rows attend to its own keys and values
     * (no padding, no copy of the caches into one), and their outputs are stacked again for the rest of the
     * layer, which runs on every row at once. Hooks on the attention maps are refused for such a step (their key
     * axes differ by row), so only z is a site here.
     */
    private static NDArray attendPerCache(
            HookContext ctx, int layer, NDArray q, NDArray k, NDArray v, double scale, double softcap, int window) {
        NDList outputs = new NDList();
        int from = 0;
        for (KvCache cache : ctx.kvCaches()) {
            NDIndex rows = new NDIndex("{}:{}", from, from + cache.rows());
            from += cache.rows();
            NDArray[] full = cache.extend(layer, k.get(rows), v.get(rows));
            NDArray ownQ = q.get(rows);
            outputs.add(weighted(softmax(scores(ctx, ownQ, full[0], scale, softcap, window)), full[1], ownQ));
        }
        return NDArrays.concat(outputs, 0);
    }

    /** Scaled, soft-capped and masked scores [B, H, T, T_keys] of q [B, T, H, d] against k [B, T_keys, H_kv, d]. */
    private static NDArray scores(HookContext ctx, NDArray q, NDArray k, double scale, double softcap, int window) {
        int groups = (int) (q.getShape().get(2) / k.getShape().get(2));
        NDArray keys = expandKvHeads(k, groups).transpose(0, 2, 3, 1); // [B, H, d, T_keys]
        return Functional.softcap(Scalars.times(q.transpose(0, 2, 1, 3).matMul(keys), scale), softcap)
                .add(ctx.causalMask(q.getShape().get(1), k.getShape().get(1), q.getDataType(), window));
    }

    /** In half precision the softmax is taken in float32, as transformers upcasts it. */
    private static NDArray softmax(NDArray scores) {
        return Precision.narrowed(Precision.widened(scores).softmax(-1), scores.getDataType());
    }

    /** z [B, T, H, d]: the pattern [B, H, T, T_keys] applied to the values v [B, T_keys, H_kv, d]. */
    private static NDArray weighted(NDArray pattern, NDArray v, NDArray q) {
        int groups = (int) (q.getShape().get(2) / v.getShape().get(2));
        NDArray values = expandKvHeads(v, groups).transpose(0, 2, 1, 3); // [B, H, T_keys, d]
        return pattern.matMul(values).transpose(0, 2, 1, 3);
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
    public static NDArray splitHeads(NDArray x, long heads) {
        Shape s = x.getShape();
        return x.reshape(s.get(0), s.get(1), heads, s.get(2) / heads);
    }

    /** [B, T, H, d] to [B, T, H * d]. */
    public static NDArray mergeHeads(NDArray x) {
        Shape s = x.getShape();
        return x.reshape(s.get(0), s.get(1), s.get(2) * s.get(3));
    }
}
