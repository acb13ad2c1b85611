package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * One layer's attention under a gradient whose heads x T x T maps are never whole, forward or backward: what lets a
 * recomputed layer ({@code LayerwiseGradientWork}) hold memory linear in the prompt's length. Autograd would keep the
 * pattern of every query row for the backward (and make the scores' and pattern's gradients whole there); libtorch's
 * memory-efficient kernels would not, but they hide the pattern and its gradient, which the QK fix reads.
 *
 * <p>The forward runs without a graph, a chunk of query rows at a time, and hands on z as a leaf: the rest of the
 * layer is recorded from there. A backward from the layer's output (the session's) then stops at z; {@link #backward}
 * takes z's gradient on: for each chunk of rows it runs that chunk's attention again with its graph, from detached
 * copies of q, k and v, pushes the chunk's rows of z's gradient back through it (the copies' gradients add up over
 * the chunks, and the chunk's graph goes), and finally pushes the three gradients through the recorded graph that
 * made q, k and v. That is flash attention's trade: the attention's forward once more per backward, for maps of one
 * chunk. Each query row's softmax is whole within its chunk, so every gradient is the unchunked one to round-off
 * (LayerwiseGradientTest).
 *
 * <p>The QK fix reads the clean scores and the pattern's gradient; both are given a chunk of rows at a time
 * ({@link #scoresRows}, {@link #patternGradientRows}), the latter as z's gradient times the values, which is the
 * pattern leaf's gradient in the whole graph.
 */
public final class AttentionBackwardInChunks {
    private final NDArray q;
    private final NDArray k;
    private final NDArray v;
    private final NDArray leafQ;
    private final NDArray leafK;
    private final NDArray leafV;
    private final NDArray z;
    private final double scale;
    private final double softcap;
    private final int window;
    private final int rows;
    /** Whether a backward has reached this attention: before that, its leaves have no gradient to zero. */
    private boolean differentiated;

    /**
     * @param q,k,v the layer's queries [B, T, H, d], keys and values [B, T, H_kv, d], with the graph that made them
     * @param z the attention's output made from them without a graph, a leaf the rest of the layer is recorded from
     * @param rows query rows per chunk
     */
    AttentionBackwardInChunks(
            NDManager pass,
            NDArray q,
            NDArray k,
            NDArray v,
            NDArray z,
            double scale,
            double softcap,
            int window,
            int rows) {
        // Views owned by the pass: the layer's scope, which owns q, k and v, closes before the backward.
        this.q = Scoped.view(pass, q);
        this.k = Scoped.view(pass, k);
        this.v = Scoped.view(pass, v);
        this.leafQ = leaf(pass, q);
        this.leafK = leaf(pass, k);
        this.leafV = leaf(pass, v);
        this.z = z;
        this.scale = scale;
        this.softcap = softcap;
        this.window = window;
        this.rows = rows;
    }

    /** A detached copy of x (no copy of its data) that collects its own gradient, owned by {@code pass}. */
    private static NDArray leaf(NDManager pass, NDArray x) {
        NDArray leaf = x.stopGradient();
        leaf.attach(pass);
        leaf.setRequiresGradient(true);
        return leaf;
    }

    /** Forgets z's gradient: a backward adds to it, and each of the session's starts from nothing. */
    void zeroGradient() {
        if (differentiated) {
            JniUtils.zeroGrad((PtNDArray) z);
        }
    }

    /**
     * Pushes z's gradient (the session's backward has just stopped there) back through the attention, chunk by chunk,
     * and on through the graph that made q, k and v; the graph is kept for the session's next backward.
     */
    void backward() {
        NDManager pass = z.getManager();
        if (differentiated) {
            for (NDArray leaf : new NDArray[] {leafQ, leafK, leafV}) {
                JniUtils.zeroGrad((PtNDArray) leaf);
            }
        }
        differentiated = true;
        long queries = leafQ.getShape().get(1);
        try (NDManager work = pass.newSubManager()) {
            NDArray upstream = gradient(work, z);
            for (long from = 0; from < queries; from += rows) {
                long to = Math.min(queries, from + rows);
                try (NDManager chunk = work.newSubManager()) {
                    NDIndex own = new NDIndex(":, {}:{}", from, to);
                    NDArray ownQ = Scoped.view(chunk, leafQ).get(own);
                    // Keys and values as views owned by the chunk: DJL attaches an op's result to its first input's
                    // manager, and grouped-query heads expanded from the pass's leaves would stay until the pass ends.
                    NDArray pattern = ScaledDotProduct.softmax(
                            ScaledDotProduct.rawScores(ownQ, Scoped.view(chunk, leafK), scale, softcap)
                                    .add(mask(chunk, from, to, queries, ownQ)));
                    NDArray zRows = ScaledDotProduct.weighted(pattern, Scoped.view(chunk, leafV), ownQ);
                    JniUtils.backward(
                            (PtNDArray) zRows,
                            (PtNDArray) Scoped.view(chunk, upstream).get(own),
                            false,
                            false);
                }
            }
            // One backward through what made q, k and v: each is multiplied by its gradient (a constant) and summed,
            // so what flows back into each is exactly that gradient.
            NDArray total = Scoped.view(work, q)
                    .mul(gradient(work, leafQ))
                    .sum()
                    .add(Scoped.view(work, k).mul(gradient(work, leafK)).sum())
                    .add(Scoped.view(work, v).mul(gradient(work, leafV)).sum());
            JniUtils.backward((PtNDArray) total, (PtNDArray) total.onesLike(), true, false);
        }
    }

    /** The query rows of the layer. */
    public int length() {
        return (int) leafQ.getShape().get(1);
    }

    /**
     * The clean scores [B, H, to - from, T] of query rows [from, to) as {@code hook_attn_scores} gives them (scaled,
     * soft-capped, masked with -inf), owned by {@code into}, without a graph.
     */
    public NDArray scoresRows(NDManager into, int from, int to) {
        try (GradMode off = GradMode.disable()) {
            NDArray ownQ = Scoped.view(into, leafQ).get(new NDIndex(":, {}:{}", from, to));
            return ScaledDotProduct.rawScores(ownQ, Scoped.view(into, leafK), scale, softcap)
                    .add(mask(into, from, to, length(), ownQ));
        }
    }

    /**
     * The gradient [B, H, to - from, T] at the pattern of query rows [from, to) under the gradient last pushed back:
     * z's gradient times the values, as the pattern's own leaf would have it. Owned by {@code into}, without a graph.
     */
    public NDArray patternGradientRows(NDManager into, int from, int to) {
        return patternGradientRows(into, from, to, gradient(into, z));
    }

    /**
     * A copy of z's gradient now [B, T, H, d_head], owned by {@code into}: linear in T where the pattern's gradient is
     * heads x T x T, so a pass that reads the pattern's gradient under several backwards (GradDrop's variants) keeps
     * this and makes the rows from it ({@link #patternGradientRows(NDManager, int, int, NDArray)}).
     */
    public NDArray outputGradient(NDManager into) {
        try (NDManager temp = into.newSubManager()) {
            NDArray copy = gradient(temp, z).duplicate();
            copy.attach(into);
            return copy;
        }
    }

    /** As {@link #patternGradientRows(NDManager, int, int)} under a gradient {@code outputGradient} kept at z. */
    public NDArray patternGradientRows(NDManager into, int from, int to, NDArray outputGradient) {
        try (GradMode off = GradMode.disable()) {
            NDArray upstream = Scoped.view(into, outputGradient).get(new NDIndex(":, {}:{}", from, to));
            int groups = (int) (leafQ.getShape().get(2) / leafV.getShape().get(2));
            NDArray values = ScaledDotProduct.expandKvHeads(Scoped.view(into, leafV), groups)
                    .transpose(0, 2, 3, 1); // [B, H, d, T]
            return upstream.transpose(0, 2, 1, 3).matMul(values);
        }
    }

    /**
     * The leaf's gradient as an array owned by {@code scope}: DJL gives each call a new array of the leaf's own
     * manager, which would otherwise stay until the pass ends.
     */
    private static NDArray gradient(NDManager scope, NDArray leaf) {
        NDArray g = leaf.getGradient();
        g.attach(scope);
        return g;
    }

    /** The causal (and sliding-window) mask of query rows [from, to), in q's type, owned by {@code scope}. */
    private NDArray mask(NDManager scope, long from, long to, long keys, NDArray q) {
        return ScaledDotProduct.mask(scope, to - from, keys, from, window, q.getDataType());
    }
}
