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
import dev.patchbay.model.Precision;
import dev.patchbay.model.Scalars;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Edge.ReaderKind;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
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
    private final HookedTransformer model;
    private final ModelConfig config;
    private final EdgeGraph graph;
    private final EdgeWork work;
    private final PairBatch batch;
    private final NDManager scope;
    private final int layers;
    /** The products of writers' changes and readers' gradients, once the changes are known. */
    private EdgeReads reads;

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
        validate(work.pairs(), work.perPosition());
        try (NDManager scope = model.compute().newScope()) {
            EdgeEstimator e = new EdgeEstimator(model, work, scope);
            return e.run(start);
        }
    }

    /** Every pair has one metric kind, and per position one length. */
    static void validate(List<PromptPair> pairs, boolean perPosition) {
        Metric.Kind kind = pairs.get(0).metric().kind();
        for (int i = 0; i < pairs.size(); i++) {
            if (pairs.get(i).metric().kind() != kind) {
                throw new IllegalArgumentException("pairs[" + i + "]: all pairs must use one metric kind");
            }
            if (perPosition && pairs.get(i).length() != pairs.get(0).length()) {
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
            reads = reads(clean, noise);
            integrated(clean, noise, reference, onDevice);
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
                reads = reads(clean, noise);
                if (estimate.gradDrop()) {
                    gradDrop(session, clean, gradients, onDevice);
                } else {
                    for (EdgeGraph.Group g : graph.groups()) {
                        if (g.kind() == ReaderKind.QUERY && isQkFixed(g)) {
                            NDArray[] fixed = reads.qkFix(
                                    cleanLayer(clean, g.layer()),
                                    List.of(QkFix.Rows.of(patternGradient(clean, g))),
                                    new double[] {1});
                            onDevice.put(g, fixed[0]);
                            onDevice.put(graph.group(new Edge.Reader(ReaderKind.KEY, g.layer(), 0)), fixed[1]);
                        } else if (!isQkFixed(g)) {
                            onDevice.put(g, eap(clean, g));
                        }
                    }
                }
            }
        }
        double[] noiseMetrics = doubles(batch.unembeddedMetric(scope, reference).apply(noise.logits()));
        return EdgeEstimates.readBack(
                onDevice,
                work.perPosition(),
                batch.clean.length(),
                cleanMetrics,
                noiseMetrics,
                new Cost(passes, compute, (System.nanoTime() - start) / 1e9));
    }

    /**
     * EAP for one group [B, edges] from the gradient {@code run} holds at its readers' inputs. The gradient's array is
     * released on return: GradDrop reads every reader's gradient once per variant, and each read is an array of its
     * own that would otherwise hold the variant's storage until the pass ends (about 1 GB on the GPT-2-small shape).
     */
    private NDArray eap(ForwardResult run, EdgeGraph.Group g) {
        try (NDManager temp = scope.newSubManager()) {
            NDArray gradient = run.gradient(EdgeSites.readerSite(g.kind(), g.layer(), config));
            gradient.attach(temp);
            return reads.eap(gradient, g);
        }
    }

    /**
     * The products of the writers' changes between the two runs, laid out for the pass's edges; per-position keys
     * under GradDrop keep their QK-fix tables for all the variants' reads.
     */
    private EdgeReads reads(ForwardResult clean, ForwardResult noise) {
        NDArray changes =
                EdgeSites.writerChanges(model, scope, clean.activations(), noise.activations(), !work.perPosition());
        return new EdgeReads(model, batch, scope, work.estimate(), work.perPosition(), changes, true, 0);
    }

    /** The clean run's layer as the QK fix reads it. */
    private EdgeReads.Layer cleanLayer(ForwardResult clean, int layer) {
        NDArray scores = clean.activation(HookSites.attn(layer, "attn_scores"));
        return new EdgeReads.Layer(
                layer,
                clean.activation(HookSites.residPre(layer)),
                QkFix.Rows.of(scores),
                (int) scores.getShape().get(2),
                clean.activation(rotated(layer, "q")),
                clean.activation(rotated(layer, "k")));
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
                    try (NDArray estimate = eap(clean, g)) {
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
                List<QkFix.Rows> rows = patternGradients.get(g.layer()).stream()
                        .map(QkFix.Rows::of)
                        .toList();
                NDArray[] fixed = reads.qkFix(cleanLayer(clean, g.layer()), rows, weights);
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
     * EAP-IG (Hanna et al. 2024, following their code): the gradient at the reader inputs averaged over runs of the
     * clean prompt whose input to layer 0 is noise + (k / m)(clean - noise), k = 0..m-1 (so m = 1 is the gradient at
     * the noise input), times each writer's (noise - clean) change. Steps of a pair run as one batch (up to 16 rows).
     */
    private void integrated(
            ForwardResult clean, ForwardResult noise, NDArray reference, Map<EdgeGraph.Group, NDArray> onDevice) {
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
            // The pair's runs are its own length: the batch's rows are padded on the right to the longest.
            NDIndex own = new NDIndex("{}, :{}", p, pair.length());
            NDArray noiseInput = noise.activation(input).get(own);
            NDArray toClean = clean.activation(input).get(own).sub(noiseInput);
            for (int k0 = 0; k0 < steps; k0 += InterpolatedRuns.ROWS) {
                int k1 = Math.min(steps, k0 + InterpolatedRuns.ROWS);
                try (NDManager temp = scope.newSubManager()) {
                    InterpolatedRuns runs =
                            InterpolatedRuns.of(temp, pair, p, noiseInput, toClean, reference, k0, k1, steps);
                    ForwardResult run = model.forwardWithGradients(
                            temp,
                            runs.tokens(),
                            runs.hooks().gradient(readerSites).build(),
                            runs.metric());
                    for (String site : readerSites) {
                        NDArray summed = run.gradient(site).sum(new int[] {0}, true);
                        summed.attach(scope);
                        sums.put(site, accumulate(sums.get(site), summed));
                    }
                }
            }
            for (String site : readerSites) {
                perPair.computeIfAbsent(site, s -> new ArrayList<>())
                        .add(paddedTo(sums.remove(site), batch.clean.length()));
            }
        }
        passes = batch.size() * (2.0 + 3.0 * steps);
        compute = passes;
        Map<String, NDArray> meanGradients = new LinkedHashMap<>();
        perPair.forEach((site, list) ->
                meanGradients.put(site, Scalars.times(NDArrays.concat(new NDList(list), 0), 1.0 / steps)));
        for (EdgeGraph.Group g : graph.groups()) {
            onDevice.put(g, reads.eap(meanGradients.get(EdgeSites.readerSite(g.kind(), g.layer(), config)), g));
        }
    }

    /**
     * A pair's gradient [1, T_pair, ...] padded with zeros to the batch's T: pad positions are no reader's input, so
     * their writers' changes there (the pads see real tokens, so they differ) count for nothing.
     */
    private static NDArray paddedTo(NDArray gradient, int length) {
        Shape s = gradient.getShape();
        if (s.get(1) == length) {
            return gradient;
        }
        long[] pad = s.getShape().clone();
        pad[1] = length - s.get(1);
        NDArray padded = gradient.concat(gradient.getManager().zeros(new Shape(pad), gradient.getDataType()), 1);
        gradient.close();
        return padded;
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
        return EdgeReads.rotated(config, layer, qOrK);
    }

    private NDArray logProbs(NDArray logits) {
        return Precision.widened(batch.unembeddedMetric(scope, null).atPositions(logits))
                .logSoftmax(-1)
                .stopGradient();
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }
}
