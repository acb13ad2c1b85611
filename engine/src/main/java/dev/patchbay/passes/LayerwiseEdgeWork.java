package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.model.AttentionBackwardInChunks;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.GradientSession;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Precision;
import dev.patchbay.model.Scalars;
import dev.patchbay.model.Scoped;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Edge.ReaderKind;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToIntFunction;
import java.util.stream.IntStream;

/**
 * The edge estimates (EAP, EAP-IG, edge AtP* and its two repairs alone) with per-layer recomputation, as a pass: what
 * a pair holds grows with one layer's graph rather than every layer's, and linearly in the prompt's length. The clean
 * and noise forwards run without a graph (their attention in chunks of query rows), keep each layer's clean input and
 * form every writer's change, which the estimates need throughout; the backward then goes down the layers as
 * {@link LayerwiseGradientWork}'s does: layer l is run again from its kept input with its graph (its attention
 * differentiated in chunks, {@link AttentionBackwardInChunks}), the gradient at its output pushed back through it,
 * the edges into its readers estimated at once from their gradients and the writers below, and the gradient at its
 * input handed down. GradDrop carries one gradient stream per variant started above, as there; the QK fix reads the
 * layer's scores and each variant's pattern gradient by chunks of query rows, the latter made from the attention
 * output's gradient kept per variant ([T, heads, d_head] each). EAP-IG recomputes each batch of interpolated runs the
 * same way and adds each batch's products as it goes (the estimate is linear in the gradient). The estimates are
 * {@link EdgeEstimator}'s to round-off (LayerwiseEdgeTest).
 *
 * @param attentionRows query rows per chunk of the recomputed layer's attention and of its QK fix; 0 sizes them by
 *     {@link dev.patchbay.model.Attention#CHUNK_BYTES} and {@link EdgeReads#QK_FIX_CHUNK_BYTES} (tests force small
 *     chunks)
 */
public record LayerwiseEdgeWork(
        List<PromptPair> pairs, EdgeEstimate estimate, int igSteps, boolean perPosition, int attentionRows)
        implements Pass<EdgeEstimates> {
    public LayerwiseEdgeWork {
        pairs = List.copyOf(pairs);
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("pairs: at least one prompt pair is needed");
        }
        if (estimate.integrated() && igSteps < 1) {
            throw new IllegalArgumentException("ig_steps must be at least 1, got " + igSteps);
        }
        if (attentionRows < 0) {
            throw new IllegalArgumentException("attention rows must be positive, or 0 for the default");
        }
    }

    /** Attention chunks sized by the working set. */
    public LayerwiseEdgeWork(List<PromptPair> pairs, EdgeEstimate estimate, int igSteps, boolean perPosition) {
        this(pairs, estimate, igSteps, perPosition, 0);
    }

    @Override
    public int rowCount() {
        return pairs.size();
    }

    @Override
    public int length() {
        return pairs.stream().mapToInt(PromptPair::length).max().orElse(1);
    }

    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        return pairs.size()
                * PassMemory.layerwiseEdgeRowBytes(config, paddedLength, elementBytes, estimate, igSteps, perPosition);
    }

    @Override
    public EdgeEstimates run(PassContext context) {
        long start = System.nanoTime();
        EdgeEstimator.validate(pairs, perPosition);
        HookedTransformer model = context.model();
        ModelConfig config = model.config();
        int layers = config.nLayers();
        PairBatch batch = PairBatch.of(pairs);
        List<String> writerSites = EdgeSites.writerSites(config);
        List<String> inputs =
                IntStream.range(0, layers).mapToObj(HookSites::residPre).toList();
        try (NDManager scope = model.compute().newScope()) {
            ForwardResult noise = model.forward(
                    scope,
                    batch.noise,
                    Hooks.builder()
                            .cache(writerSites)
                            .unembedOnly(batch.positions)
                            .build());
            ForwardResult clean = model.forward(
                    scope,
                    batch.clean,
                    Hooks.builder()
                            .cache(writerSites)
                            .cache(inputs)
                            .unembedOnly(batch.positions)
                            .build());
            MetricBatch metric = batch.unembeddedMetric(scope, null);
            double[] cleanMetrics = doubles(metric.apply(clean.logits()));
            NDArray reference = Precision.widened(metric.atPositions(clean.logits()))
                    .logSoftmax(-1)
                    .stopGradient();
            double[] noiseMetrics =
                    doubles(batch.unembeddedMetric(scope, reference).apply(noise.logits()));
            NDArray changes =
                    EdgeSites.writerChanges(model, scope, clean.activations(), noise.activations(), !perPosition);
            EdgeReads reads = new EdgeReads(model, batch, scope, estimate, perPosition, changes, false, attentionRows);
            // The writers' outputs are in the changes now; only the layers' clean inputs are read again.
            for (String site : writerSites) {
                if (!inputs.contains(site)) {
                    noise.activation(site).close();
                    clean.activation(site).close();
                }
            }
            Run run = new Run(model, new EdgeGraph(config), batch, reads, new LinkedHashMap<>());
            double passes;
            double compute;
            if (estimate.integrated()) {
                integrated(run, scope, clean, noise.activation(HookSites.residPre(0)), reference);
                // As the plain pass: two forwards and a forward and backward per step; each step's layers run again.
                passes = batch.size() * (2.0 + 3.0 * igSteps);
                compute = passes + batch.size() * (double) igSteps;
            } else {
                GradientStreams streams = GradientStreams.none();
                for (int l = layers - 1; l >= 0; l--) {
                    try (NDManager layer = scope.newSubManager()) {
                        GradientStreams below = backThroughLayer(run, layer, l, streams, clean, metric);
                        below.attach(scope);
                        streams.close();
                        streams = below;
                    }
                }
                streams.close();
                if (estimate.gradDrop()) {
                    int informative = GradDrop.informativeVariants(layers);
                    run.scores().replaceAll((g, score) -> {
                        NDArray mean = Scalars.times(
                                score, 1.0 / (g.kind() == ReaderKind.LOGITS ? Math.max(1, layers) : informative));
                        score.close();
                        return mean;
                    });
                    // As the plain pass (GradDrop's partial backwards), and each layer's forward once more.
                    passes = batch.size() * (4.0 + 2.0 * (layers - 1));
                    compute = batch.size() * (4.0 + (layers - 1) + 1.0);
                } else {
                    passes = 4.0 * batch.size();
                    compute = passes + batch.size();
                }
            }
            return EdgeEstimates.readBack(
                    run.scores(),
                    perPosition,
                    batch.clean.length(),
                    cleanMetrics,
                    noiseMetrics,
                    new Cost(passes, compute, (System.nanoTime() - start) / 1e9));
        }
    }

    /** What every layer's step reads and where the estimates go ([B, edges] per group, owned by the pass). */
    private record Run(
            HookedTransformer model,
            EdgeGraph graph,
            PairBatch batch,
            EdgeReads reads,
            Map<EdgeGraph.Group, NDArray> scores) {}

    /** The reader groups of layer {@code l}, and at the top layer the logits' (whose input is that layer's output). */
    private static List<EdgeGraph.Group> groupsAt(EdgeGraph graph, int l, boolean top) {
        return graph.groups().stream()
                .filter(g -> g.kind() == ReaderKind.LOGITS ? top : g.layer() == l)
                .toList();
    }

    /**
     * Layer {@code l} run again from its kept clean input, each stream at its output (or the metric's own backward at
     * the top layer) pushed back through it, and the edges into its readers estimated into the run's scores. Returns
     * the streams at the layer's input, owned by {@code layer}'s scope.
     */
    private GradientStreams backThroughLayer(
            Run run, NDManager layer, int l, GradientStreams above, ForwardResult clean, MetricBatch metric) {
        HookedTransformer model = run.model();
        ModelConfig config = model.config();
        boolean gradDrop = estimate.gradDrop();
        boolean qkFix = estimate.qkFix();
        int layers = config.nLayers();
        boolean top = l == layers - 1;
        String input = HookSites.residPre(l);
        String output = HookSites.residPost(l);
        List<EdgeGraph.Group> groups = groupsAt(run.graph(), l, top);
        Set<String> gradients = new LinkedHashSet<>();
        for (EdgeGraph.Group g : groups) {
            gradients.add(EdgeSites.readerSite(g.kind(), g.layer(), config));
        }
        gradients.add(input);
        if (top) {
            gradients.add(output); // the logits' reader, and where GradDrop's variant L - 1 starts
        }
        Hooks.Builder hooks = Hooks.builder()
                .cache(output)
                .gradient(gradients)
                .attentionGradientInChunks()
                .attentionChunkRows(attentionRows);
        if (qkFix) {
            hooks.cache(EdgeReads.rotated(config, l, "q"), EdgeReads.rotated(config, l, "k"));
        }
        if (top) {
            hooks.unembedOnly(run.batch().positions);
        } else {
            hooks.stopAfter(output);
        }
        try (GradientSession session = model.openGradientSessionFrom(
                layer, run.batch().clean, l, clean.activation(input), hooks.build(), top ? metric : null)) {
            ForwardResult recomputed = session.result();
            if (top) {
                session.backward();
            } else {
                session.backwardFrom(output, above.full());
            }
            AttentionBackwardInChunks attention = recomputed.attentionInChunks(l);
            GradientStreams below =
                    GradientStreams.of(recomputed.gradient(input).duplicate());
            // The QK fix's pattern gradients, one per backward, as the attention output's gradient; and their weights.
            List<NDArray> outputGradients = new ArrayList<>();
            List<Double> weights = new ArrayList<>();
            // Estimates are made with gradient mode off: made under it, they would record a graph back to the layer's
            // activations and, kept past the layer, hold its whole graph.
            session.outsideTheGraph(() -> read(
                    run,
                    recomputed,
                    attention,
                    groups,
                    g -> gradDrop ? (g.kind() == ReaderKind.LOGITS ? layers : g.layer()) : 1,
                    outputGradients,
                    weights,
                    layer));
            if (gradDrop) {
                NDArray atOutput = top ? recomputed.gradient(output).duplicate() : above.full();
                for (Map.Entry<Integer, NDArray> stream : above.variants().entrySet()) {
                    session.zeroGradients(gradients);
                    session.backwardFrom(output, stream.getValue());
                    // Every variant started above this layer changes its readers' gradients (the logits' are read
                    // at the top only, where no variant starts above).
                    session.outsideTheGraph(
                            () -> read(run, recomputed, attention, groups, g -> 1, outputGradients, weights, layer));
                    below.variants()
                            .put(stream.getKey(), recomputed.gradient(input).duplicate());
                }
                // Variant l: layer l is an identity for the gradient, its readers get none, and the stream goes on.
                if (l > 0) {
                    below.variants().put(l, atOutput.duplicate());
                }
            }
            if (qkFix) {
                session.outsideTheGraph(() -> {
                    EdgeReads.Layer fixed = new EdgeReads.Layer(
                            l,
                            clean.activation(input),
                            attention::scoresRows,
                            attention.length(),
                            recomputed.activation(EdgeReads.rotated(config, l, "q")),
                            recomputed.activation(EdgeReads.rotated(config, l, "k")));
                    List<QkFix.Rows> rows = outputGradients.stream()
                            .map(z -> (QkFix.Rows) (into, from, to) -> attention.patternGradientRows(into, from, to, z))
                            .toList();
                    NDArray[] estimates = run.reads()
                            .qkFix(
                                    fixed,
                                    rows,
                                    weights.stream()
                                            .mapToDouble(Double::doubleValue)
                                            .toArray());
                    run.scores().put(group(run.graph(), ReaderKind.QUERY, l), estimates[0]);
                    run.scores().put(group(run.graph(), ReaderKind.KEY, l), estimates[1]);
                });
            }
            return below;
        }
    }

    /**
     * Reads {@code groups} under the gradient the recomputed layer holds now: EAP into the run's scores (GradDrop's
     * weighted magnitudes added up), and for QK-fixed queries and keys the attention output's gradient kept for the
     * fix at the layer's end.
     *
     * @param weight how many times a group's estimate under the gradient read now counts in GradDrop's sum (1 without)
     */
    private void read(
            Run run,
            ForwardResult recomputed,
            AttentionBackwardInChunks attention,
            List<EdgeGraph.Group> groups,
            ToIntFunction<EdgeGraph.Group> weight,
            List<NDArray> outputGradients,
            List<Double> weights,
            NDManager layer) {
        ModelConfig config = run.model().config();
        NDManager pass = layer.getParentManager();
        boolean qkTaken = false;
        for (EdgeGraph.Group g : groups) {
            if (estimate.qkFix() && (g.kind() == ReaderKind.QUERY || g.kind() == ReaderKind.KEY)) {
                if (!qkTaken) {
                    // Queries and keys of a layer share its pattern's gradient.
                    outputGradients.add(attention.outputGradient(layer));
                    weights.add((double) weight.applyAsInt(g));
                    qkTaken = true;
                }
                continue;
            }
            NDArray estimate;
            try (NDManager temp = layer.newSubManager()) {
                NDArray gradient = recomputed.gradient(EdgeSites.readerSite(g.kind(), g.layer(), config));
                gradient.attach(temp);
                estimate = run.reads().eap(gradient, g);
            }
            if (this.estimate.gradDrop()) {
                GradDrop.accumulate(run.scores(), g, estimate, weight.applyAsInt(g));
                estimate.close();
            } else {
                run.scores().put(g, estimate);
            }
            run.scores().get(g).attach(pass);
        }
    }

    /**
     * EAP-IG recomputed: for each pair, each batch of interpolated runs (the clean prompt with layer 0's input at
     * noise + (k / m)(clean - noise), k = 0..m-1) runs forward without a graph keeping each layer's input, then goes
     * down the layers with the full gradient alone, adding each reader group's product with the pair's writer changes
     * (summed over the batch's runs, over m) to the pair's estimates as soon as the layer is done.
     */
    private void integrated(Run run, NDManager scope, ForwardResult clean, NDArray noiseInput, NDArray reference) {
        HookedTransformer model = run.model();
        ModelConfig config = model.config();
        int layers = config.nLayers();
        String input = HookSites.residPre(0);
        List<String> inputs =
                IntStream.range(0, layers).mapToObj(HookSites::residPre).toList();
        PairBatch batch = run.batch();
        List<Map<EdgeGraph.Group, NDArray>> perPair = new ArrayList<>();
        for (int p = 0; p < batch.size(); p++) {
            PromptPair pair = batch.pairs.get(p);
            Map<EdgeGraph.Group, NDArray> sums = new LinkedHashMap<>();
            try (NDManager pairScope = scope.newSubManager()) {
                PairBatch one = PairBatch.of(List.of(pair));
                EdgeReads reads = run.reads().forPair(pairScope, one, p);
                // The pair's runs are its own length: the batch's rows are padded on the right to the longest.
                NDIndex own = new NDIndex("{}, :{}", p, pair.length());
                NDArray from = Scoped.view(pairScope, noiseInput).get(own);
                NDArray toClean =
                        Scoped.view(pairScope, clean.activation(input)).get(own).sub(from);
                for (int k0 = 0; k0 < igSteps; k0 += InterpolatedRuns.ROWS) {
                    int k1 = Math.min(igSteps, k0 + InterpolatedRuns.ROWS);
                    try (NDManager steps = pairScope.newSubManager()) {
                        InterpolatedRuns runs =
                                InterpolatedRuns.of(steps, pair, p, from, toClean, reference, k0, k1, igSteps);
                        ForwardResult forward = model.forward(
                                steps, runs.tokens(), runs.hooks().cache(inputs).build());
                        NDArray upstream = null;
                        for (int l = layers - 1; l >= 0; l--) {
                            NDArray below =
                                    integratedLayer(model, run.graph(), reads, steps, runs, forward, l, upstream, sums);
                            if (upstream != null) {
                                upstream.close();
                            }
                            upstream = below;
                        }
                    }
                }
                sums.values().forEach(s -> s.attach(scope));
            }
            perPair.add(sums);
        }
        for (EdgeGraph.Group g : run.graph().groups()) {
            List<NDArray> rows = new ArrayList<>();
            for (Map<EdgeGraph.Group, NDArray> sums : perPair) {
                rows.add(sums.get(g));
            }
            NDArray all = Scoped.concat(scope, rows);
            run.scores().put(g, Scalars.times(all, 1.0 / igSteps));
        }
    }

    /**
     * One layer of a batch of interpolated runs: run again from its kept input with its graph, the gradient at its
     * output ({@code upstream}, or the metric's at the top) pushed back through it, each reader group's gradient summed
     * over the runs and its product with the writers added to {@code sums}. Returns the gradient at the layer's input,
     * owned by {@code steps}.
     */
    private NDArray integratedLayer(
            HookedTransformer model,
            EdgeGraph graph,
            EdgeReads reads,
            NDManager steps,
            InterpolatedRuns runs,
            ForwardResult forward,
            int l,
            NDArray upstream,
            Map<EdgeGraph.Group, NDArray> sums) {
        ModelConfig config = model.config();
        boolean top = l == config.nLayers() - 1;
        String input = HookSites.residPre(l);
        String output = HookSites.residPost(l);
        List<EdgeGraph.Group> groups = groupsAt(graph, l, top);
        Set<String> gradients = new LinkedHashSet<>();
        for (EdgeGraph.Group g : groups) {
            gradients.add(EdgeSites.readerSite(g.kind(), g.layer(), config));
        }
        gradients.add(input);
        Hooks.Builder hooks = Hooks.builder()
                .cache(output)
                .gradient(gradients)
                .attentionGradientInChunks()
                .attentionChunkRows(attentionRows);
        if (top) {
            hooks.unembedOnly(runs.positions());
        } else {
            hooks.stopAfter(output);
        }
        try (NDManager layer = steps.newSubManager()) {
            try (GradientSession session = model.openGradientSessionFrom(
                    layer, runs.tokens(), l, forward.activation(input), hooks.build(), top ? runs.metric() : null)) {
                ForwardResult recomputed = session.result();
                if (top) {
                    session.backward();
                } else {
                    session.backwardFrom(output, upstream);
                }
                session.outsideTheGraph(() -> {
                    for (EdgeGraph.Group g : groups) {
                        NDArray summed = recomputed
                                .gradient(EdgeSites.readerSite(g.kind(), g.layer(), config))
                                .sum(new int[] {0}, true);
                        NDArray product = reads.eap(summed, g);
                        NDArray before = sums.get(g);
                        NDArray total = before == null ? product : before.add(product);
                        total.attach(steps.getParentManager());
                        sums.put(g, total);
                        if (before != null) {
                            before.close();
                            product.close();
                        }
                    }
                });
                NDArray below = recomputed.gradient(input).duplicate();
                below.attach(steps);
                return below;
            }
        }
    }

    private static EdgeGraph.Group group(EdgeGraph graph, ReaderKind kind, int layer) {
        return graph.group(new Edge.Reader(kind, layer, 0));
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }
}
