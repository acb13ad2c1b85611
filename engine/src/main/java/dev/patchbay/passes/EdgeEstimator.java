package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.GradientSession;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.Precision;
import dev.patchbay.model.Scalars;
import dev.patchbay.model.Scoped;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Edge.ReaderKind;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToIntFunction;

/**
 * Runs one {@link EdgeWork} on the calling thread (docs/spec/atp-spec.md section 9): a noise forward and a clean
 * forward keep every writer's output; the clean run's backward (or, for EAP-IG, the backward of each interpolated
 * run) gives the metric's gradient at every reader's private input; an edge's estimate is the writer's change dotted
 * with its reader's gradient, all edges of a reader group in one batched matrix product.
 */
public final class EdgeEstimator {
    /**
     * The QK fix's float64 tables per chunk of writers (a row, one writer and pair, holds about 16 [heads, T, T]
     * tables at its peak, 50 for per-position keys). 256 MB chunks were no faster on the GPT-2-small shape.
     */
    static final long QK_FIX_CHUNK_BYTES = 64L << 20;
    /** Interpolated runs per EAP-IG gradient pass. */
    static final int IG_ROWS = 16;

    private final HookedTransformer model;
    private final ModelConfig config;
    private final EdgeGraph graph;
    private final EdgeWork work;
    private final PairBatch batch;
    private final NDManager scope;
    private final int layers;
    /** Every writer's change as rows [B, writers, T * d_model], once the first group asks. */
    private NDArray writerRows;

    private double passes;
    private double compute;

    private EdgeEstimator(HookedTransformer model, EdgeWork work, NDManager scope) {
        this.model = model;
        this.config = model.config();
        this.graph = new EdgeGraph(config);
        this.work = work;
        this.batch = PairBatch.of(work.pairs());
        this.scope = scope;
        this.layers = config.nLayers();
    }

    public static EdgeEstimates run(HookedTransformer model, EdgeWork work) {
        long start = System.nanoTime();
        validate(work);
        try (NDManager scope = model.compute().newScope()) {
            EdgeEstimator e = new EdgeEstimator(model, work, scope);
            return e.run(start);
        }
    }

    private static void validate(EdgeWork work) {
        List<PromptPair> pairs = work.pairs();
        Metric.Kind kind = pairs.get(0).metric().kind();
        for (int i = 0; i < pairs.size(); i++) {
            if (pairs.get(i).metric().kind() != kind) {
                throw new IllegalArgumentException("pairs[" + i + "]: all pairs must use one metric kind");
            }
            if (work.perPosition() && pairs.get(i).length() != pairs.get(0).length()) {
                throw new IllegalArgumentException("pairs[" + i + "]: per-position edges need every pair to have the"
                        + " same length (" + pairs.get(0).length() + " tokens), this one has "
                        + pairs.get(i).length());
            }
        }
    }

    private EdgeEstimates run(long start) {
        List<String> writerSites = EdgeSites.writerSites(config);
        ForwardResult noise = model.forward(
                scope,
                batch.noise,
                Hooks.builder().cache(writerSites).unembedOnly(batch.positions).build());
        EdgeEstimate estimate = work.estimate();
        Map<EdgeGraph.Group, NDArray> onDevice = new LinkedHashMap<>();
        double[] cleanMetrics;
        NDArray reference;
        if (estimate.integrated()) {
            ForwardResult clean = model.forward(
                    scope,
                    batch.clean,
                    Hooks.builder()
                            .cache(writerSites)
                            .unembedOnly(batch.positions)
                            .build());
            cleanMetrics = doubles(batch.unembeddedMetric(scope, null).apply(clean.logits()));
            reference = logProbs(clean.logits());
            NDArray changes = EdgeSites.writerChanges(model, scope, clean.activations(), noise.activations());
            integrated(clean, noise, changes, reference, onDevice);
        } else {
            Set<String> cached = new LinkedHashSet<>(writerSites);
            Set<String> gradients = new LinkedHashSet<>();
            for (EdgeGraph.Group g : graph.groups()) {
                gradients.add(EdgeSites.readerSite(g.kind(), g.layer(), config));
            }
            if (estimate.gradDrop()) {
                for (int l = 0; l < layers; l++) {
                    cached.add(HookSites.residPre(l));
                    gradients.add(HookSites.residPost(l));
                }
            }
            if (estimate.qkFix()) {
                for (int l = 0; l < layers; l++) {
                    cached.addAll(List.of(
                            HookSites.residPre(l), HookSites.attn(l, "attn_scores"), rotated(l, "q"), rotated(l, "k")));
                    gradients.add(HookSites.attn(l, "pattern"));
                }
            }
            try (GradientSession session = model.openGradientSession(
                    scope,
                    batch.clean,
                    Hooks.builder()
                            .cache(cached)
                            .gradient(gradients)
                            .unembedOnly(batch.positions)
                            .build(),
                    batch.unembeddedMetric(scope, null))) {
                ForwardResult clean = session.result();
                session.backward();
                cleanMetrics = doubles(clean.metric());
                reference = logProbs(clean.logits());
                passes = 4.0 * batch.size();
                compute = passes;
                NDArray changes = EdgeSites.writerChanges(model, scope, clean.activations(), noise.activations());
                if (estimate.gradDrop()) {
                    gradDrop(session, clean, changes, gradients, onDevice);
                } else {
                    for (EdgeGraph.Group g : graph.groups()) {
                        if (g.kind() == ReaderKind.QUERY && isQkFixed(g)) {
                            NDArray[] fixed = qkFix(
                                    clean, changes, g.layer(), List.of(patternGradient(clean, g)), new double[] {1});
                            onDevice.put(g, fixed[0]);
                            onDevice.put(graph.group(new Edge.Reader(ReaderKind.KEY, g.layer(), 0)), fixed[1]);
                        } else if (!isQkFixed(g)) {
                            onDevice.put(g, eap(clean, changes, g));
                        }
                    }
                }
            }
        }
        double[] noiseMetrics = doubles(batch.unembeddedMetric(scope, reference).apply(noise.logits()));
        Map<EdgeGraph.Group, double[][]> estimates = new LinkedHashMap<>();
        onDevice.forEach((g, values) -> estimates.put(g, rows(values)));
        int[] positions = null;
        if (work.perPosition()) {
            positions = new int[batch.clean.length()];
            Arrays.setAll(positions, i -> i);
        }
        return new EdgeEstimates(
                estimates,
                positions,
                cleanMetrics,
                noiseMetrics,
                new Cost(passes, compute, (System.nanoTime() - start) / 1e9));
    }

    /**
     * EAP for one group [B, edges] from the gradient {@code run} holds at its readers' inputs. The gradient's array is
     * released on return: GradDrop reads every reader's gradient once per variant, and each read is an array of its
     * own that would otherwise hold the variant's storage until the pass ends (about 1 GB on the GPT-2-small shape).
     */
    private NDArray eap(ForwardResult run, NDArray changes, EdgeGraph.Group g) {
        try (NDManager temp = scope.newSubManager()) {
            NDArray gradient = run.gradient(EdgeSites.readerSite(g.kind(), g.layer(), config));
            gradient.attach(temp);
            return eap(temp, changes, g.kind().perHead() ? gradient : gradient.expandDims(2), g);
        }
    }

    /**
     * EAP for one group [B, edges] (owned by the pass): sum over positions (or per position) and d_model of change x
     * gradient [B, T, U, d], as one batched product. Products are taken in the model's precision (float32 for half
     * models), then widened.
     */
    private NDArray eap(NDManager temp, NDArray changes, NDArray gradient, EdgeGraph.Group g) {
        NDArray r = widenedHalf(Scoped.view(temp, gradient)); // [B, T, U, d]
        long rows = r.getShape().get(0);
        NDArray product;
        if (work.perPosition()) {
            NDArray c = widenedHalf(Scoped.view(temp, changes)).get(new NDIndex(":, :, :{}", g.writers()));
            product = r.matMul(c.transpose(0, 1, 3, 2)); // [B, T, U, W]
        } else {
            NDArray writers = Scoped.view(temp, writerRows(changes)).get(new NDIndex(":, :{}", g.writers()));
            NDArray readers = r.transpose(0, 2, 1, 3).reshape(rows, r.getShape().get(2), -1);
            product = readers.matMul(writers.transpose(0, 2, 1)); // [B, U, W]
        }
        NDArray result = product.reshape(rows, -1).toType(DataType.FLOAT64, false);
        result.attach(scope);
        return result;
    }

    /** Every writer's change as rows [B, writers, T * d_model], laid out once for all groups and variants. */
    private NDArray writerRows(NDArray changes) {
        if (writerRows == null) {
            Shape s = changes.getShape();
            writerRows = widenedHalf(changes).transpose(0, 2, 1, 3).reshape(s.get(0), s.get(2), s.get(1) * s.get(3));
        }
        return writerRows;
    }

    /** A copy of the pattern gradient {@code run} holds now (it changes with every backward variant). */
    private NDArray patternGradient(ForwardResult run, EdgeGraph.Group g) {
        try (NDManager temp = scope.newSubManager()) {
            NDArray gradient = run.gradient(patternSite(g));
            gradient.attach(temp);
            NDArray copy = gradient.duplicate();
            copy.attach(scope);
            return copy;
        }
    }

    /**
     * GradDrop on edges ({@link GradDrop}'s schedule): an edge's score is the mean of |estimate| over the variants that
     * leave its reader a gradient: all but its own layer's (L - 1 of them) for a reader inside a layer, all L for the
     * logits (whose estimate no variant changes, so the score there is |EAP|). The QK fix is linear in the pattern
     * gradient, so for queries and keys each variant's pattern gradient is kept with its weight and the fix is run once
     * over all of them.
     */
    private void gradDrop(
            GradientSession session,
            ForwardResult clean,
            NDArray changes,
            Set<String> gradientSites,
            Map<EdgeGraph.Group, NDArray> scores) {
        Map<Integer, List<NDArray>> patternGradients = new LinkedHashMap<>();
        Map<Integer, List<Double>> patternWeights = new LinkedHashMap<>();
        GradDrop.Backward backward = new GradDrop.Backward() {
            @Override
            public NDArray residualGradient(int layer) {
                try (NDManager temp = scope.newSubManager()) {
                    NDArray gradient = clean.gradient(HookSites.residPost(layer));
                    gradient.attach(temp);
                    NDArray copy = gradient.duplicate();
                    copy.attach(scope);
                    return copy;
                }
            }

            @Override
            public void zeroGradients() {
                session.zeroGradients(gradientSites);
            }

            @Override
            public void backwardFrom(int layer, NDArray upstream) {
                session.backwardFrom(HookSites.residPre(layer), upstream);
            }
        };
        GradDrop.Scored<EdgeGraph.Group> scored = new GradDrop.Scored<>() {
            @Override
            public List<EdgeGraph.Group> groups() {
                return graph.groups();
            }

            @Override
            public int fullVariants(EdgeGraph.Group g) {
                return g.kind() == ReaderKind.LOGITS ? layers : g.layer();
            }

            @Override
            public boolean changedBy(EdgeGraph.Group g, int stop) {
                return g.kind() != ReaderKind.LOGITS && g.layer() < stop;
            }

            @Override
            public void read(List<EdgeGraph.Group> groups, ToIntFunction<EdgeGraph.Group> weight) {
                Set<Integer> patternsTaken = new LinkedHashSet<>();
                for (EdgeGraph.Group g : groups) {
                    if (isQkFixed(g)) {
                        // Queries and keys of a layer share its pattern's gradient.
                        if (patternsTaken.add(g.layer())) {
                            patternGradients
                                    .computeIfAbsent(g.layer(), l -> new ArrayList<>())
                                    .add(patternGradient(clean, g));
                            patternWeights
                                    .computeIfAbsent(g.layer(), l -> new ArrayList<>())
                                    .add((double) weight.applyAsInt(g));
                        }
                        continue;
                    }
                    try (NDArray estimate = eap(clean, changes, g)) {
                        GradDrop.accumulate(scores, g, estimate, weight.applyAsInt(g));
                    }
                }
            }
        };
        compute += batch.size() * GradDrop.run(backward, scored, layers);
        passes += batch.size() * 2.0 * (layers - 1);
        for (EdgeGraph.Group g : graph.groups()) {
            if (g.kind() == ReaderKind.QUERY && isQkFixed(g)) {
                double[] weights = patternWeights.get(g.layer()).stream()
                        .mapToDouble(Double::doubleValue)
                        .toArray();
                NDArray[] fixed = qkFix(clean, changes, g.layer(), patternGradients.get(g.layer()), weights);
                scores.put(g, fixed[0]);
                scores.put(graph.group(new Edge.Reader(ReaderKind.KEY, g.layer(), 0)), fixed[1]);
            }
        }
        int informative = GradDrop.informativeVariants(layers);
        scores.replaceAll((g, score) -> {
            NDArray mean =
                    Scalars.times(score, 1.0 / (g.kind() == ReaderKind.LOGITS ? Math.max(1, layers) : informative));
            score.close();
            return mean;
        });
    }

    /**
     * The QK fix for the edges into one layer's queries and keys: each writer's change is added to the layer's clean
     * input (all heads at once: a head's query depends on its own input alone), the layer is run up to its rotated
     * keys to get the patched queries and keys exactly through the norm, projection, per-head norms and rotary, and
     * the softmax of every row they move is recomputed ({@link EdgeQkFix}; per-position keys by {@link QkFix}'s
     * per-key form). Linear in the pattern gradient, so each of {@code gradients} (GradDrop's variants) costs only a
     * product. Returns, for queries and for keys, sum_v weights[v] |estimate_v| with GradDrop, or the signed estimate
     * under the one gradient without, as [B, edges] in block order.
     */
    private NDArray[] qkFix(
            ForwardResult clean, NDArray changes, int layer, List<NDArray> gradients, double[] weights) {
        NDArray resid = clean.activation(HookSites.residPre(layer));
        NDArray scores = clean.activation(HookSites.attn(layer, "attn_scores"));
        NDArray cleanQ = clean.activation(rotated(layer, "q"));
        NDArray cleanK = clean.activation(rotated(layer, "k"));
        Shape sc = scores.getShape();
        int pairs = batch.size();
        int writers = graph.writersBefore(layer);
        boolean perPosition = work.perPosition();
        // A row's float64 [heads, T, T] tables at their peak: the query and key changes and their temporaries.
        long rowBytes = 8L * 16 * sc.get(1) * sc.get(2) * sc.get(3);
        if (perPosition) {
            rowBytes = 8L * 50 * sc.get(1) * sc.get(2) * sc.get(3); // QkFix's per-key tables
        }
        int writersPerChunk = (int) Math.max(1, QK_FIX_CHUNK_BYTES / rowBytes / pairs);
        NDList queryChunks = new NDList();
        NDList keyChunks = new NDList();
        try (NDManager layerScope = scope.newSubManager()) {
            EdgeQkFix fix =
                    new EdgeQkFix(layerScope, scores, cleanQ, cleanK, config.attnScale(layer), config.attnSoftcap());
            for (int w0 = 0; w0 < writers; w0 += writersPerChunk) {
                int w1 = Math.min(writers, w0 + writersPerChunk);
                int n = w1 - w0;
                try (NDManager temp = layerScope.newSubManager()) {
                    // Rows writer-major: row (w - w0) * B + b holds pair b's input with writer w's change added.
                    NDArray change = Scoped.view(temp, changes)
                            .get(new NDIndex(":, :, {}:{}", w0, w1))
                            .transpose(2, 0, 1, 3); // [n, B, T, d]
                    Shape cs = change.getShape();
                    NDArray inputs = change.add(resid.expandDims(0)).reshape(n * (long) pairs, cs.get(2), cs.get(3));
                    int[][] tokens = new int[n * pairs][];
                    for (int i = 0; i < tokens.length; i++) {
                        tokens[i] = batch.pairs.get(i % pairs).clean();
                    }
                    ForwardResult patched = model.forwardFrom(
                            temp,
                            TokenBatch.of(tokens),
                            layer,
                            inputs,
                            Hooks.builder()
                                    .cache(rotated(layer, "q"), rotated(layer, "k"))
                                    .stopAfter(rotated(layer, "k"))
                                    .build());
                    NDArray patchedQ = patched.activation(rotated(layer, "q"));
                    NDArray patchedK = patched.activation(rotated(layer, "k"));
                    // [V, n, B, (T,) H] for queries; keys the same, summed over each key/value head's query heads.
                    NDArray queries = fix.estimates(fix.queryChanges(patchedQ, n), gradients, perPosition);
                    NDArray keys;
                    if (perPosition) {
                        keys = perKeyEstimates(temp, scores, cleanQ, cleanK, patchedQ, patchedK, layer, n, gradients);
                    } else {
                        keys = fix.perKeyValueHead(fix.estimates(fix.keyChanges(patchedK, n), gradients, false));
                    }
                    NDArray q = combined(queries, weights);
                    NDArray k = combined(keys, weights);
                    q.attach(scope);
                    k.attach(scope);
                    queryChunks.add(q);
                    keyChunks.add(k);
                }
            }
        }
        return new NDArray[] {blockOrder(NDArrays.concat(queryChunks, 0)), blockOrder(NDArrays.concat(keyChunks, 0))};
    }

    /** Per-position key estimates [V, n, B, T, H_kv] by {@link QkFix}'s per-key form (one key column moved at a time). */
    private NDArray perKeyEstimates(
            NDManager temp,
            NDArray scores,
            NDArray cleanQ,
            NDArray cleanK,
            NDArray patchedQ,
            NDArray patchedK,
            int layer,
            int n,
            List<NDArray> gradients) {
        NDArray rows = repeated(temp, scores, n);
        // Read once per variant: the tables are kept where there are several.
        QkFix fix = new QkFix(
                rows,
                repeated(temp, cleanQ, n),
                patchedQ,
                repeated(temp, cleanK, n),
                patchedK,
                config.attnScale(layer),
                config.attnSoftcap(),
                false,
                gradients.size() > 1,
                QkFix.rowsPerChunk(rows.getShape()));
        NDList variants = new NDList();
        for (NDArray g : gradients) {
            NDArray est = fix.keys(repeated(temp, g, n)); // [n * B, T, H_kv]
            Shape es = est.getShape();
            variants.add(est.reshape(n, es.get(0) / n, es.get(1), es.get(2)));
        }
        return NDArrays.stack(variants);
    }

    /** sum_v weights[v] |estimate_v| with GradDrop, else the one variant's signed estimate: [V, ...] to [...]. */
    private NDArray combined(NDArray perVariant, double[] weights) {
        if (!work.estimate().gradDrop()) {
            return perVariant.get(0);
        }
        double[] w = weights;
        NDArray weighted = perVariant.abs();
        long[] shape = new long[weighted.getShape().dimension()];
        Arrays.fill(shape, 1);
        shape[0] = w.length;
        NDArray factors = weighted.getManager().create(w, new Shape(shape));
        return weighted.mul(factors).sum(new int[] {0});
    }

    /** [W, B, (T,) U] to [B, edges] in block order: (position, reader, writer). */
    private NDArray blockOrder(NDArray all) {
        NDArray ordered = work.perPosition() ? all.transpose(1, 2, 3, 0) : all.transpose(1, 2, 0);
        return ordered.reshape(batch.size(), -1);
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

    /**
     * EAP-IG (Hanna et al. 2024, following their code): the gradient at the reader inputs averaged over runs of the
     * clean prompt whose input to layer 0 is noise + (k / m)(clean - noise), k = 0..m-1 (so m = 1 is the gradient at
     * the noise input), times each writer's (noise - clean) change. Steps of a pair run as one batch (up to 16 rows).
     */
    private void integrated(
            ForwardResult clean,
            ForwardResult noise,
            NDArray changes,
            NDArray reference,
            Map<EdgeGraph.Group, NDArray> onDevice) {
        int steps = work.igSteps();
        String input = HookSites.residPre(0);
        Set<String> readerSites = new LinkedHashSet<>();
        for (EdgeGraph.Group g : graph.groups()) {
            readerSites.add(EdgeSites.readerSite(g.kind(), g.layer(), config));
        }
        Map<String, NDArray> sums = new LinkedHashMap<>();
        Map<String, List<NDArray>> perPair = new LinkedHashMap<>();
        for (int p = 0; p < batch.size(); p++) {
            PromptPair pair = batch.pairs.get(p);
            NDArray noiseInput = noise.activation(input).get(new NDIndex("{}", p));
            NDArray toClean = clean.activation(input).get(new NDIndex("{}", p)).sub(noiseInput);
            for (int k0 = 0; k0 < steps; k0 += IG_ROWS) {
                int k1 = Math.min(steps, k0 + IG_ROWS);
                try (NDManager temp = scope.newSubManager()) {
                    Hooks.Builder hooks = Hooks.builder().gradient(readerSites);
                    int rows = k1 - k0;
                    int[][] tokens = new int[rows][];
                    List<Metric> metrics = new ArrayList<>();
                    List<NDArray> references = new ArrayList<>();
                    for (int k = k0; k < k1; k++) {
                        NDArray point = Scalars.times(Scoped.view(temp, toClean), (double) k / steps)
                                .add(noiseInput);
                        hooks.patch(input, Patch.whole(k - k0, point));
                        tokens[k - k0] = pair.clean();
                        metrics.add(pair.metric());
                        references.add(reference.get(new NDIndex("{}:{}", p, p + 1)));
                    }
                    int[] positions = new int[rows];
                    Arrays.fill(positions, pair.metricPosition());
                    ForwardResult run = model.forwardWithGradients(
                            temp,
                            TokenBatch.of(tokens),
                            hooks.unembedOnly(positions).build(),
                            new MetricBatch(temp, metrics, new int[rows], Scoped.concat(temp, references)));
                    for (String site : readerSites) {
                        NDArray summed = run.gradient(site).sum(new int[] {0}, true);
                        summed.attach(scope);
                        sums.put(site, accumulate(sums.get(site), summed));
                    }
                }
            }
            for (String site : readerSites) {
                perPair.computeIfAbsent(site, s -> new ArrayList<>()).add(sums.remove(site));
            }
        }
        passes = batch.size() * (2.0 + 3.0 * steps);
        compute = passes;
        Map<String, NDArray> meanGradients = new LinkedHashMap<>();
        perPair.forEach((site, list) ->
                meanGradients.put(site, Scalars.times(NDArrays.concat(new NDList(list), 0), 1.0 / steps)));
        for (EdgeGraph.Group g : graph.groups()) {
            NDArray grad = meanGradients.get(EdgeSites.readerSite(g.kind(), g.layer(), config));
            try (NDManager temp = scope.newSubManager()) {
                onDevice.put(g, eap(temp, changes, g.kind().perHead() ? grad : grad.expandDims(2), g));
            }
        }
    }

    private static NDArray accumulate(NDArray sum, NDArray add) {
        if (sum == null) {
            return add;
        }
        NDArray total = sum.add(add);
        sum.close();
        add.close();
        return total;
    }

    private boolean isQkFixed(EdgeGraph.Group g) {
        return work.estimate().qkFix() && (g.kind() == ReaderKind.QUERY || g.kind() == ReaderKind.KEY);
    }

    private static String patternSite(EdgeGraph.Group g) {
        return HookSites.attn(g.layer(), "pattern");
    }

    private String rotated(int layer, String qOrK) {
        return HookSites.attn(layer, config.rotaryDim() > 0 ? "rot_" + qOrK : qOrK);
    }

    private NDArray logProbs(NDArray logits) {
        return Precision.widened(batch.unembeddedMetric(scope, null).atPositions(logits))
                .logSoftmax(-1)
                .stopGradient();
    }

    private static NDArray widenedHalf(NDArray x) {
        return Precision.isHalf(x.getDataType()) ? x.toType(DataType.FLOAT32, false) : x;
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }

    private static double[][] rows(NDArray values) {
        int count = (int) values.getShape().get(0);
        double[] flat = values.toDoubleArray();
        int per = flat.length / count;
        double[][] out = new double[count][per];
        for (int r = 0; r < count; r++) {
            System.arraycopy(flat, r * per, out[r], 0, per);
        }
        return out;
    }
}
