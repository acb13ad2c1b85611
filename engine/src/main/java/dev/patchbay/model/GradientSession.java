package dev.patchbay.model;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A forward pass whose autograd graph is kept for several backward passes: one full backward of the metric,
 * then vector-Jacobian products pushed back from any cached site. GradDrop needs exactly this: variant l
 * equals the full backward above layer l, and below it is the full gradient at resid_post(l) pushed from
 * resid_pre(l) through the earlier layers, so all variants share the backward through the layers above.
 *
 * <p>Open, use and close a session on one thread: gradient mode is on for that thread while it is open (see
 * {@link GradMode}). Closing it restores the mode; the arrays belong to the forward's scope.
 */
public final class GradientSession implements AutoCloseable {
    private final GradMode gradMode;
    private final ForwardResult result;
    private final NDArray metricSum;
    private final Map<String, NDArray> leaves;
    /** Attention made in chunks, by layer from the top: each backward goes on through them in that order. */
    private final List<AttentionBackwardInChunks> attentionInChunks;

    GradientSession(
            GradMode gradMode,
            ForwardResult result,
            NDArray metricSum,
            Map<String, NDArray> leaves,
            Map<Integer, AttentionBackwardInChunks> attentionInChunks) {
        this.gradMode = gradMode;
        this.result = result;
        this.metricSum = metricSum;
        this.leaves = leaves;
        List<AttentionBackwardInChunks> fromTheTop = new ArrayList<>(attentionInChunks.values());
        Collections.reverse(fromTheTop);
        this.attentionInChunks = List.copyOf(fromTheTop);
    }

    /** Opens a session over {@code run}, the model's forward (its blocks and unembedding) under a context. */
    static GradientSession open(
            ModelConfig config,
            java.util.function.BiFunction<TokenBatch, HookContext, NDArray> run,
            ai.djl.ndarray.NDManager scope,
            TokenBatch batch,
            Hooks hooks,
            java.util.function.Function<NDArray, NDArray> metric) {
        GradMode gradMode = GradMode.enable();
        try {
            HookContext ctx = new HookContext(scope, hooks, batch, config);
            NDArray logits = run.apply(batch, ctx);
            if ((logits == null) != (metric == null)) {
                throw new IllegalArgumentException(
                        logits == null ? "a forward stopped before the logits has no metric" : "a metric is needed");
            }
            NDArray perRow = metric == null ? null : metric.apply(logits);
            ForwardResult result =
                    new ForwardResult(logits, ctx.cache(), ctx.leaves(), perRow, ctx.attentionInChunks());
            return new GradientSession(
                    gradMode, result, perRow == null ? null : perRow.sum(), ctx.leaves(), ctx.attentionInChunks());
        } catch (RuntimeException e) {
            gradMode.close();
            throw e;
        }
    }

    /** The forward pass: logits, cached activations, per-row metric, and (after a backward) gradients. */
    public ForwardResult result() {
        return result;
    }

    /** The full backward of the summed per-row metric; the graph is kept. */
    public void backward() {
        if (metricSum == null) {
            throw new IllegalStateException("a forward stopped before the logits: push a gradient back from a site");
        }
        NDArray ones = metricSum.onesLike();
        attentionInChunks.forEach(AttentionBackwardInChunks::zeroGradient);
        JniUtils.backward((PtNDArray) metricSum, (PtNDArray) ones, true, false);
        throughAttentionInChunks();
    }

    /**
     * A backward stops at the output of attention made in chunks: each such layer's, from the top, takes its gradient
     * on through the attention and down (a lower layer's output then has every contribution above it).
     */
    private void throughAttentionInChunks() {
        attentionInChunks.forEach(AttentionBackwardInChunks::backward);
    }

    /**
     * Pushes {@code upstream} (same shape as the site) back from the cached activation at {@code site}: every
     * gradient site upstream of it accumulates upstream^T d(site)/d(its value). Zero them first to read the
     * product alone.
     */
    public void backwardFrom(String site, NDArray upstream) {
        PtNDArray activation = (PtNDArray) result.activation(site);
        attentionInChunks.forEach(AttentionBackwardInChunks::zeroGradient);
        try {
            JniUtils.backward(activation, (PtNDArray) upstream, true, false);
        } catch (EngineException e) {
            // PyTorch refuses when no gradient site lies upstream of the activation.
            throw new IllegalStateException("cannot push a gradient back from " + site + ": " + e.getMessage(), e);
        }
        throughAttentionInChunks();
    }

    /**
     * Runs {@code read} with gradient mode off: what it makes from the session's arrays records no graph, so kept past
     * the session it holds none of it.
     */
    public void outsideTheGraph(Runnable read) {
        try (GradMode off = GradMode.disable()) {
            read.run();
        }
    }

    /** Resets the accumulated gradient of these sites to zero. */
    public void zeroGradients(Collection<String> sites) {
        for (String site : sites) {
            NDArray leaf = leaves.get(site);
            if (leaf != null) {
                JniUtils.zeroGrad((PtNDArray) leaf);
            }
        }
    }

    @Override
    public void close() {
        gradMode.close();
    }
}
