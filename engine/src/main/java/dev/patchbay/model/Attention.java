package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import java.util.List;

/**
 * Causal multi-head attention from per-head q, k, v, with the hook sites every architecture shares:
 * {@code hook_attn_scores} (soft-capped where the model caps, masked, pre-softmax), {@code hook_pattern} and {@code hook_z}. Eager on purpose:
 * the QK fix needs the probabilities and their gradients, which fused kernels hide.
 *
 * <p>Where no hook needs a layer's maps whole and no gradient is recorded, the maps are made a chunk of query rows at
 * a time: each row is its own softmax, so the output is the same (to the round-off of matrix products over fewer
 * rows), and a forward holds one chunk's heads x rows x keys maps instead of heads x T x T (at 4,096 tokens of the
 * Llama 3.2 1B shape, 2.1 GB a map in float32). Under a gradient the graph would keep every chunk's pattern, so there
 * the maps are whole, unless the hooks ask for the attention's gradient in chunks too
 * ({@link AttentionBackwardInChunks}).
 */
public final class Attention {
    /** The score-sized temporaries of one chunk of query rows: the scores, their masked sum and the softmax. */
    public static final long CHUNK_BYTES = 64L << 20;

    /** Score-sized temporaries a chunk of a forward holds at once: a chunk is sized so that these fit CHUNK_BYTES. */
    public static final int CHUNK_MAPS = 4;

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
            NDArray[] full = caches.get(0).extend(ctx.scope(), layer, k, v);
            k = full[0];
            v = full[1];
        }
        if (caches.isEmpty() && JniUtils.isGradMode() && ctx.hooks().attentionGradientInChunks()) {
            if (ctx.hooks().touchesAttentionMaps(layer)) {
                throw new IllegalArgumentException("attention maps of layer " + layer
                        + " are hooked: they cannot be made in chunks under a gradient");
            }
            int rows = budgetedRows(ctx, q, k);
            NDArray z;
            try (GradMode off = GradMode.disable()) {
                z = ScaledDotProduct.inQueryChunks(ctx.scope(), q, k, v, scale, softcap, window, rows);
            }
            z.attach(ctx.passScope());
            // z as a leaf: the rest of the layer is recorded from here, and the session's backward goes on through the
            // attention chunk by chunk.
            z.setRequiresGradient(true);
            ctx.keepForBackward(
                    new AttentionBackwardInChunks(ctx.passScope(), q, k, v, z, scale, softcap, window, rows));
            return ctx.apply(HookSites.attn(layer, "z"), z);
        }
        int rows = chunkRows(ctx, layer, q, k);
        if (rows < q.getShape().get(1)) {
            return ctx.apply(
                    HookSites.attn(layer, "z"),
                    ScaledDotProduct.inQueryChunks(ctx.scope(), q, k, v, scale, softcap, window, rows));
        }
        NDArray scores = scores(ctx, q, k, scale, softcap, window);
        scores = ctx.apply(HookSites.attn(layer, "attn_scores"), scores);
        NDArray pattern = ctx.apply(HookSites.attn(layer, "pattern"), ScaledDotProduct.softmax(scores));
        return ctx.apply(HookSites.attn(layer, "z"), ScaledDotProduct.weighted(pattern, v, q));
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
            NDArray[] full = cache.extend(ctx.scope(), layer, k.get(rows), v.get(rows));
            NDArray ownQ = q.get(rows);
            outputs.add(ScaledDotProduct.weighted(
                    ScaledDotProduct.softmax(scores(ctx, ownQ, full[0], scale, softcap, window)), full[1], ownQ));
        }
        return NDArrays.concat(outputs, 0);
    }

    /**
     * Query rows per chunk for this layer: all of them where a hook needs the maps whole or a gradient is recorded,
     * else the forward's own chunk, or as many as keep one chunk's maps within {@link #CHUNK_BYTES}.
     */
    private static int chunkRows(HookContext ctx, int layer, NDArray q, NDArray k) {
        int queries = (int) q.getShape().get(1);
        if (ctx.hooks().touchesAttentionMaps(layer) || JniUtils.isGradMode()) {
            return queries;
        }
        return budgetedRows(ctx, q, k);
    }

    /** The forward's own chunk, or as many query rows as keep one chunk's maps within {@link #CHUNK_BYTES}. */
    private static int budgetedRows(HookContext ctx, NDArray q, NDArray k) {
        int queries = (int) q.getShape().get(1);
        if (ctx.hooks().attentionChunkRows() > 0) {
            return ctx.hooks().attentionChunkRows();
        }
        long perRow = CHUNK_MAPS
                * q.getShape().get(0)
                * q.getShape().get(2)
                * k.getShape().get(1)
                * Math.max(Float.BYTES, q.getDataType().getNumOfBytes());
        return (int) Math.max(1, Math.min(queries, CHUNK_BYTES / perRow));
    }

    /** Scaled, soft-capped and masked scores [B, H, T, T_keys] of q [B, T, H, d] against k [B, T_keys, H_kv, d]. */
    private static NDArray scores(HookContext ctx, NDArray q, NDArray k, double scale, double softcap, int window) {
        return ScaledDotProduct.rawScores(q, k, scale, softcap)
                .add(ctx.causalMask(q.getShape().get(1), k.getShape().get(1), q.getDataType(), window));
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
