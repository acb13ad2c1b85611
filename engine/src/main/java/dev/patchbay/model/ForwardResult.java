package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import java.util.Collections;
import java.util.Map;

/**
 * What one forward pass produced: logits [B, T, vocab], the activations its hooks cached, and, after a
 * backward pass, the metric's gradient at the sites that asked for it. Every array lives in the scope the
 * forward ran in and is freed with it.
 */
public final class ForwardResult {
    private final NDArray logits;
    private final Map<String, NDArray> cache;
    private final Map<String, NDArray> leaves;
    private final NDArray metric;
    private final Map<Integer, AttentionBackwardInChunks> attentionInChunks;

    ForwardResult(NDArray logits, Map<String, NDArray> cache, Map<String, NDArray> leaves, NDArray metric) {
        this(logits, cache, leaves, metric, Map.of());
    }

    ForwardResult(
            NDArray logits,
            Map<String, NDArray> cache,
            Map<String, NDArray> leaves,
            NDArray metric,
            Map<Integer, AttentionBackwardInChunks> attentionInChunks) {
        this.logits = logits;
        this.cache = Collections.unmodifiableMap(cache);
        this.leaves = leaves;
        this.metric = metric;
        this.attentionInChunks = Collections.unmodifiableMap(attentionInChunks);
    }

    /**
     * Layer {@code layer}'s attention where it was made in chunks under a gradient
     * ({@link Hooks.Builder#attentionGradientInChunks}): its scores and pattern gradient a chunk of rows at a time.
     */
    public AttentionBackwardInChunks attentionInChunks(int layer) {
        AttentionBackwardInChunks a = attentionInChunks.get(layer);
        if (a == null) {
            throw new IllegalArgumentException("layer " + layer + "'s attention was not made in chunks in this pass");
        }
        return a;
    }

    public NDArray logits() {
        return logits;
    }

    /** The per-row metric the backward pass differentiated, or null after a plain forward. */
    public NDArray metric() {
        return metric;
    }

    public Map<String, NDArray> activations() {
        return cache;
    }

    public NDArray activation(String site) {
        NDArray a = cache.get(site);
        if (a == null) {
            throw new IllegalArgumentException("site " + site + " was not cached in this forward pass");
        }
        return a;
    }

    /** d(metric of each row)/d(site), same shape as the site; zero where the site cannot reach the metric. */
    public NDArray gradient(String site) {
        NDArray leaf = leaves.get(site);
        if (leaf == null) {
            throw new IllegalArgumentException("site " + site + " did not capture a gradient in this pass");
        }
        NDArray g = leaf.getGradient();
        return g.getDataType() == leaf.getDataType() ? g : g.toType(leaf.getDataType(), false);
    }
}
