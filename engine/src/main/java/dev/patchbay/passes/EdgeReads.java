package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Precision;
import dev.patchbay.model.Scoped;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.EdgeGraph;
import java.util.Arrays;
import java.util.List;

/**
 * How an edge pass turns what it holds into estimates (docs/spec/atp-spec.md section 9), for the plain pass
 * ({@link EdgeEstimator}) and the one that recomputes each layer ({@link LayerwiseEdgeWork}) alike: every writer's
 * change, laid out once for the products, dotted with a reader group's gradient; and the QK fix for the edges into a
 * layer's queries and keys, over chunks of writers and of query rows, so that its float64 tables hold
 * {@link #QK_FIX_CHUNK_BYTES} whatever the prompt's length. Everything returned is owned by the pass's scope.
 */
final class EdgeReads {
    /**
     * The QK fix's float64 tables per chunk of writers and query rows (a writer and pair's query row holds about 16
     * [heads, T] rows of tables at its peak, 50 for per-position keys). 256 MB chunks were no faster on the
     * GPT-2-small shape.
     */
    static final long QK_FIX_CHUNK_BYTES = 64L << 20;

    private final HookedTransformer model;
    private final ModelConfig config;
    private final EdgeGraph graph;
    private final PairBatch batch;
    private final NDManager scope;
    private final boolean perPosition;
    private final boolean gradDrop;
    private final boolean keepKeyTables;
    /** Query rows per chunk of the QK fix; 0 sizes them by {@link #QK_FIX_CHUNK_BYTES}. */
    private final int qkFixRows;
    /** Per position: every writer's change [B, T, writers, d_model]; else null. */
    private final NDArray changes;
    /** Over all positions: every writer's change as rows [B, writers, T * d_model]; else null. */
    private final NDArray writerRows;

    /**
     * @param changes every writer's change ({@link EdgeSites#writerChanges}) per position, [B, T, writers, d_model],
     *     or over all positions as rows [B, writers, T * d_model], owned by {@code scope}
     * @param keepKeyTables per-position key edges under several gradients (GradDrop's variants) keep each writer
     *     chunk's QK-fix tables for all of them rather than make them per variant: faster, heads x T x T per row more
     * @param qkFixRows query rows per chunk of the QK fix; 0 sizes them by {@link #QK_FIX_CHUNK_BYTES} (tests force
     *     small chunks)
     */
    EdgeReads(
            HookedTransformer model,
            PairBatch batch,
            NDManager scope,
            EdgeEstimate estimate,
            boolean perPosition,
            NDArray changes,
            boolean keepKeyTables,
            int qkFixRows) {
        this.model = model;
        this.config = model.config();
        this.graph = new EdgeGraph(config);
        this.batch = batch;
        this.scope = scope;
        this.perPosition = perPosition;
        this.gradDrop = estimate.gradDrop();
        this.keepKeyTables = keepKeyTables;
        this.qkFixRows = qkFixRows;
        this.changes = perPosition ? changes : null;
        this.writerRows = perPosition ? null : changes;
    }

    private EdgeReads(EdgeReads all, PairBatch one, NDManager scope, NDArray changes, NDArray writerRows) {
        this.model = all.model;
        this.config = all.config;
        this.graph = all.graph;
        this.batch = one;
        this.scope = scope;
        this.perPosition = all.perPosition;
        this.gradDrop = all.gradDrop;
        this.keepKeyTables = all.keepKeyTables;
        this.qkFixRows = all.qkFixRows;
        this.changes = changes;
        this.writerRows = writerRows;
    }

    /**
     * The reads of pair {@code p} alone ({@code one}) at its own length (the batch's rows are padded on the right),
     * from this batch's changes, owned by {@code scope}.
     */
    EdgeReads forPair(NDManager scope, PairBatch one, int p) {
        NDIndex row = new NDIndex("{}:{}", p, p + 1);
        if (changes != null) {
            // Per position every pair has the batch's length.
            return new EdgeReads(this, one, scope, Scoped.view(scope, changes).get(row), null);
        }
        Shape s = writerRows.getShape();
        long length = batch.clean.length();
        long own = one.clean.length();
        NDArray rows = Scoped.view(scope, writerRows)
                .get(row)
                .reshape(1, s.get(1), length, s.get(2) / length)
                .get(new NDIndex(":, :, :{}", own))
                .reshape(1, s.get(1), own * (s.get(2) / length));
        return new EdgeReads(this, one, scope, null, rows);
    }

    /**
     * EAP for one group, [B, edges] (owned by the pass): sum over positions (or per position) and d_model of change x
     * gradient, as one batched product. Products are taken in the model's precision (float32 for half models), then
     * widened.
     *
     * @param gradient the gradient at the group's reader inputs, [B, T, U, d] (or [B, T, d] for a group of one reader)
     */
    NDArray eap(NDArray gradient, EdgeGraph.Group g) {
        try (NDManager temp = scope.newSubManager()) {
            NDArray r = widenedHalf(Scoped.view(temp, gradient));
            if (r.getShape().dimension() == 3) {
                r = r.expandDims(2);
            }
            long rows = r.getShape().get(0);
            NDArray product;
            if (perPosition) {
                NDArray c = widenedHalf(Scoped.view(temp, changes)).get(new NDIndex(":, :, :{}", g.writers()));
                product = r.matMul(c.transpose(0, 1, 3, 2)); // [B, T, U, W]
            } else {
                NDArray writers = Scoped.view(temp, writerRows).get(new NDIndex(":, :{}", g.writers()));
                NDArray readers =
                        r.transpose(0, 2, 1, 3).reshape(rows, r.getShape().get(2), -1);
                product = readers.matMul(writers.transpose(0, 2, 1)); // [B, U, W]
            }
            NDArray result = product.reshape(rows, -1).toType(DataType.FLOAT64, false);
            result.attach(scope);
            return result;
        }
    }

    /** The clean layer a QK fix reads: its input, its scores and its queries and keys as the scores use them. */
    record Layer(int layer, NDArray residPre, QkFix.Rows scores, int length, NDArray cleanQ, NDArray cleanK) {}

    /**
     * The QK fix for the edges into one layer's queries and keys: each writer's change is added to the layer's clean
     * input (all heads at once: a head's query depends on its own input alone), the layer is run up to its rotated
     * keys to get the patched queries and keys exactly through the norm, projection, per-head norms and rotary, and
     * the softmax of every row they move is recomputed ({@link EdgeQkFix}; per-position keys by {@link QkFix}'s
     * per-key form), a chunk of writers and of query rows at a time: each row's softmax is whole in its chunk. Linear
     * in the pattern gradient, so each of {@code gradients} (GradDrop's variants) costs only a product. Returns, for
     * queries and for keys, sum_v weights[v] |estimate_v| with GradDrop, or the signed estimate under the one gradient
     * without, as [B, edges] in block order.
     */
    NDArray[] qkFix(Layer clean, List<QkFix.Rows> gradients, double[] weights) {
        int layer = clean.layer();
        int pairs = batch.size();
        int length = clean.length();
        long heads = clean.cleanQ().getShape().get(2);
        int writers = graph.writersBefore(layer);
        // One query row's float64 tables for one writer and pair: the query and key changes and their temporaries.
        long rowBytes = 8L * 16 * heads * length;
        // Whole rows for as many writers as fit; per-position keys move one key column at a time, and QkFix's
        // per-key tables (50 a row) for several variants are kept whole for the chunk's writers.
        long writerBytes = (perPosition ? 8L * 50 * heads * length : rowBytes) * length * pairs;
        int writersPerChunk = (int) Math.max(1, QK_FIX_CHUNK_BYTES / writerBytes);
        int rows = qkFixRows > 0
                ? Math.min(length, qkFixRows)
                : (int) Math.min(length, Math.max(1, QK_FIX_CHUNK_BYTES / (rowBytes * pairs * writersPerChunk)));
        NDList queryChunks = new NDList();
        NDList keyChunks = new NDList();
        try (NDManager layerScope = scope.newSubManager()) {
            for (int w0 = 0; w0 < writers; w0 += writersPerChunk) {
                int w1 = Math.min(writers, w0 + writersPerChunk);
                int n = w1 - w0;
                try (NDManager temp = layerScope.newSubManager()) {
                    NDArray resid = Scoped.view(temp, clean.residPre());
                    // Rows writer-major: row (w - w0) * B + b holds pair b's input with writer w's change added.
                    NDArray change = writerChanges(temp, w0, w1).toType(resid.getDataType(), false); // [n, B, T, d]
                    Shape cs = change.getShape();
                    NDArray inputs = change.add(resid.expandDims(0)).reshape(n * (long) pairs, cs.get(2), cs.get(3));
                    int[][] tokens = new int[n * pairs][];
                    for (int i = 0; i < tokens.length; i++) {
                        tokens[i] = batch.pairs.get(i % pairs).clean();
                    }
                    String q = rotated(layer, "q");
                    String k = rotated(layer, "k");
                    ForwardResult patched = model.forwardFrom(
                            temp,
                            TokenBatch.of(tokens),
                            layer,
                            inputs,
                            Hooks.builder().cache(q, k).stopAfter(k).build());
                    NDArray patchedQ = patched.activation(q);
                    NDArray patchedK = patched.activation(k);
                    // [V, n, B, (T,) H] for queries; keys the same, summed over each key/value head's query heads.
                    NDArray queries = null;
                    NDArray keys = null;
                    NDList queryRows = new NDList();
                    for (int start = 0; start < length; start += rows) {
                        int from = start;
                        int to = Math.min(length, from + rows);
                        try (NDManager chunk = temp.newSubManager()) {
                            NDIndex own = new NDIndex(":, {}:{}", from, to);
                            EdgeQkFix fix = new EdgeQkFix(
                                    chunk,
                                    clean.scores().rows(chunk, from, to),
                                    Scoped.view(chunk, clean.cleanQ()).get(own),
                                    clean.cleanK(),
                                    config.attnScale(layer),
                                    config.attnSoftcap());
                            List<NDArray> g = gradients.stream()
                                    .map(r -> r.rows(chunk, from, to))
                                    .toList();
                            NDArray qPart = fix.estimates(
                                    fix.queryChanges(
                                            Scoped.view(chunk, patchedQ).get(own), n),
                                    g,
                                    perPosition);
                            qPart.attach(temp);
                            if (perPosition) {
                                queryRows.add(qPart);
                            } else {
                                queries = sum(queries, qPart);
                                // The patched keys as a view of the row chunk's: the change's products then
                                // belong to the chunk, not to the writers' scope (DJL attaches a result to its first
                                // operand's manager), and go with it.
                                NDArray kPart = fix.perKeyValueHead(
                                        fix.estimates(fix.keyChanges(Scoped.view(chunk, patchedK), n), g, false));
                                kPart.attach(temp);
                                keys = sum(keys, kPart);
                            }
                        }
                    }
                    if (perPosition) {
                        queries = queryRows.size() == 1 ? queryRows.get(0) : NDArrays.concat(queryRows, 3);
                        keys = perKeyEstimates(temp, clean, patchedQ, patchedK, n, gradients);
                    }
                    NDArray qc = combined(queries, weights);
                    NDArray kc = combined(keys, weights);
                    qc.attach(scope);
                    kc.attach(scope);
                    queryChunks.add(qc);
                    keyChunks.add(kc);
                }
            }
        }
        return new NDArray[] {blockOrder(NDArrays.concat(queryChunks, 0)), blockOrder(NDArrays.concat(keyChunks, 0))};
    }

    /** Writers [w0, w1)'s changes [n, B, T, d_model], owned by {@code temp}. */
    private NDArray writerChanges(NDManager temp, int w0, int w1) {
        if (perPosition) {
            return Scoped.view(temp, changes)
                    .get(new NDIndex(":, :, {}:{}", w0, w1))
                    .transpose(2, 0, 1, 3);
        }
        Shape s = writerRows.getShape();
        long length = batch.clean.length();
        return Scoped.view(temp, writerRows)
                .get(new NDIndex(":, {}:{}", w0, w1))
                .reshape(s.get(0), w1 - w0, length, s.get(2) / length)
                .transpose(1, 0, 2, 3);
    }

    /** Per-position key estimates [V, n, B, T, H_kv] by {@link QkFix}'s per-key form (one key column moved at a time). */
    private NDArray perKeyEstimates(
            NDManager temp, Layer clean, NDArray patchedQ, NDArray patchedK, int n, List<QkFix.Rows> gradients) {
        QkFix.Rows scores = (into, from, to) -> repeated(into, clean.scores().rows(into, from, to), n);
        int pairs = batch.size();
        long heads = clean.cleanQ().getShape().get(2);
        QkFix fix = new QkFix(
                scores,
                clean.length(),
                temp,
                repeated(temp, clean.cleanQ(), n),
                patchedQ,
                repeated(temp, clean.cleanK(), n),
                patchedK,
                config.attnScale(clean.layer()),
                config.attnSoftcap(),
                false,
                keepKeyTables && gradients.size() > 1,
                qkFixRows > 0
                        ? qkFixRows
                        : QkFix.rowsPerChunk((long) n * pairs, heads, clean.length(), clean.length()));
        NDList variants = new NDList();
        for (QkFix.Rows g : gradients) {
            NDArray est = fix.keys(temp, (into, from, to) -> repeated(into, g.rows(into, from, to), n));
            Shape es = est.getShape(); // [n * B, T, H_kv]
            variants.add(est.reshape(n, es.get(0) / n, es.get(1), es.get(2)));
        }
        return NDArrays.stack(variants);
    }

    /** sum_v weights[v] |estimate_v| with GradDrop, else the one variant's signed estimate: [V, ...] to [...]. */
    private NDArray combined(NDArray perVariant, double[] weights) {
        if (!gradDrop) {
            return perVariant.get(0);
        }
        NDArray weighted = perVariant.abs();
        long[] shape = new long[weighted.getShape().dimension()];
        Arrays.fill(shape, 1);
        shape[0] = weights.length;
        NDArray factors = weighted.getManager().create(weights, new Shape(shape));
        return weighted.mul(factors).sum(new int[] {0});
    }

    /** [W, B, (T,) U] to [B, edges] in block order: (position, reader, writer). */
    private NDArray blockOrder(NDArray all) {
        NDArray ordered = perPosition ? all.transpose(1, 2, 3, 0) : all.transpose(1, 2, 0);
        return ordered.reshape(batch.size(), -1);
    }

    private static NDArray sum(NDArray total, NDArray part) {
        return total == null ? part : total.add(part);
    }

    /** [B, ...] to [n * B, ...]: the batch repeated n times, writer-major. */
    private static NDArray repeated(NDManager temp, NDArray x, int n) {
        Shape s = x.getShape();
        long[] target = new long[s.dimension() + 1];
        target[0] = n;
        for (int i = 0; i < s.dimension(); i++) {
            target[i + 1] = s.get(i);
        }
        long[] flat = s.getShape().clone();
        flat[0] = n * s.get(0);
        return Scoped.view(temp, x).expandDims(0).broadcast(new Shape(target)).reshape(new Shape(flat));
    }

    /** The site of a layer's queries or keys as its scores use them (after rotary where the family rotates). */
    static String rotated(ModelConfig config, int layer, String qOrK) {
        return HookSites.attn(layer, config.rotaryDim() > 0 ? "rot_" + qOrK : qOrK);
    }

    private String rotated(int layer, String qOrK) {
        return rotated(config, layer, qOrK);
    }

    static NDArray widenedHalf(NDArray x) {
        return Precision.isHalf(x.getDataType()) ? x.toType(DataType.FLOAT32, false) : x;
    }
}
