package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
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
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * The AtP family (AtP, AtP with the QK fix, AtP*) with per-layer recomputation, as a pass: what a pair holds grows
 * with one layer's graph rather than every layer's. The clean and noise forwards run without a graph and keep only
 * each layer's input residual stream; the backward then goes down the layers: each layer is run again from its kept
 * clean input with its graph (and from its kept noise input without one, for its node sites), the gradient at its
 * output pushed back through it, its nodes' estimates made from that gradient at once, the gradient at its input
 * handed to the layer below, and the layer freed. The estimates are the plain pass's ({@link GradientWork}) to
 * round-off: the same products of the same values (LayerwiseGradientTest). Each layer's forward runs twice more: on
 * the GPT-2-small shape at 1,024 tokens AtP took 1.9 times the plain pass's time for 0.42 times its peak memory
 * (bench --section memory).
 *
 * <p>GradDrop goes down the layers with one gradient stream per variant started above: variant s (the gradient
 * through layer s's write stopped) equals the full backward above s and starts at resid_pre(s) with the full gradient
 * at resid_post(s), so at layer l the full stream and the streams of every s > l are pushed back through l's one
 * recomputed graph, each read as {@link GradDrop} would (through {@link GradientEstimator.NodeScores}), and handed
 * down. That is GradDrop's own count of backward passes through layers, L (L + 1) / 2; the variants' residual
 * gradients, L of [T, d_model], are all it holds more. Planning chooses this pass when the plain one does not fit the
 * memory budget ({@code AttributeNodes.plan}).
 *
 * @param sums as {@link GradientWork#sums()}
 * <p>The recomputed layer's attention is itself made and differentiated a chunk of query rows at a time
 * ({@link AttentionBackwardInChunks}): no heads x T x T map is ever whole, so what a pair holds grows linearly in
 * its length beyond one chunk, and the QK fix reads the layer's scores and pattern gradient by chunks.
 *
 * @param sums as {@link GradientWork#sums()}
 * @param keepQkTables keep each layer's QK-fix tables while the layer is read (GradDrop reads it once per variant)
 *     rather than make them at each read: faster, seven float64 heads x T x T tables more ({@link Recomputation})
 * @param attentionRows query rows per chunk of the recomputed layer's attention; 0 sizes them by
 *     {@link dev.patchbay.model.Attention#CHUNK_BYTES} (tests force small chunks)
 */
public record LayerwiseGradientWork(
        List<PromptPair> pairs,
        NodeSet nodes,
        GradientVariant variant,
        List<Integer> sums,
        boolean keepQkTables,
        int attentionRows)
        implements Pass<GradientEstimates> {
    public LayerwiseGradientWork {
        if (attentionRows < 0) {
            throw new IllegalArgumentException("attention rows must be positive, or 0 for the default");
        }
        pairs = List.copyOf(pairs);
        sums = List.copyOf(sums);
        if (!sums.isEmpty() && sums.stream().mapToInt(Integer::intValue).sum() != pairs.size()) {
            throw new IllegalArgumentException("sums " + sums + " do not cover " + pairs.size() + " pairs");
        }
    }

    /** Attention chunks sized by the working set. */
    public LayerwiseGradientWork(
            List<PromptPair> pairs, NodeSet nodes, GradientVariant variant, List<Integer> sums, boolean keepQkTables) {
        this(pairs, nodes, variant, sums, keepQkTables, 0);
    }

    /** Tables made at each read. */
    public LayerwiseGradientWork(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant, List<Integer> sums) {
        this(pairs, nodes, variant, sums, false);
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
                * PassMemory.layerwiseGradientRowBytes(
                        config,
                        paddedLength,
                        elementBytes,
                        variant.qkFix() && nodes.hasQueriesOrKeys(),
                        variant.gradDrop(),
                        nodes.perPosition(),
                        keepQkTables);
    }

    @Override
    public GradientEstimates run(PassContext context) {
        long start = System.nanoTime();
        HookedTransformer model = context.model();
        ModelConfig config = model.config();
        int layers = config.nLayers();
        PairBatch batch = PairBatch.of(pairs);
        List<String> inputs =
                IntStream.range(0, layers).mapToObj(HookSites::residPre).toList();
        try (NDManager scope = model.compute().newScope()) {
            Hooks keepInputs =
                    Hooks.builder().cache(inputs).unembedOnly(batch.positions).build();
            ForwardResult noise = model.forward(scope, batch.noise, keepInputs);
            ForwardResult clean = model.forward(scope, batch.clean, keepInputs);
            MetricBatch metric = batch.unembeddedMetric(scope, null);
            double[] cleanMetrics = doubles(metric.apply(clean.logits()));
            NDArray reference =
                    Precision.widened(metric.atPositions(clean.logits())).logSoftmax(-1);
            double[] noiseMetrics =
                    doubles(batch.unembeddedMetric(scope, reference).apply(noise.logits()));
            Set<Integer> scored = new LinkedHashSet<>();
            Arrays.stream(nodes.layers(config)).forEach(scored::add);
            Map<Integer, Map<BlockKey, NDArray>> byLayer = new LinkedHashMap<>();
            GradientStreams streams = GradientStreams.none();
            Context run = new Context(model, batch, noise, clean, metric, cleanMetrics, reference, byLayer);
            for (int l = layers - 1; l >= 0; l--) {
                NodeSet own = scored.contains(l)
                        ? new NodeSet(nodes.kinds(), new int[] {l}, nodes.perPosition(), nodes.positions())
                        : null;
                try (NDManager layer = scope.newSubManager()) {
                    GradientStreams below = backThroughLayer(run, layer, l, streams, own);
                    below.attach(scope);
                    streams.close();
                    streams = below;
                }
            }
            streams.close();
            Map<BlockKey, NDArray> onDevice = new LinkedHashMap<>();
            for (int l : nodes.layers(config)) {
                onDevice.putAll(byLayer.get(l));
            }
            double passes;
            double compute;
            if (variant.gradDrop()) {
                int informative = GradDrop.informativeVariants(layers);
                onDevice.replaceAll((g, score) -> Scalars.times(score, 1.0 / informative));
                // As the plain pass: two forwards and L backward passes per pair in the paper's unit; the compute is
                // the plain pass's (a full backward and the variants' partial ones) and each layer's forward again.
                passes = batch.size() * (2 + 2.0 * layers);
                compute = batch.size() * (4 + (layers - 1) + 2.0);
            } else {
                // In the paper's unit, two forwards and a backward per pair, as the plain pass; the compute adds each
                // layer's forward run again, clean and noise.
                passes = 4.0 * batch.size();
                compute = passes + 2.0 * batch.size();
            }
            Map<BlockKey, double[][]> estimates = GradientEstimator.readBack(onDevice, sums);
            return new GradientEstimates(
                    estimates,
                    sums,
                    nodes.positions(batch.clean.length()),
                    cleanMetrics,
                    noiseMetrics,
                    new Cost(passes, compute, (System.nanoTime() - start) / 1e9),
                    GradientEstimates.CacheUse.NOT_APPLICABLE);
        }
    }

    /** What every layer's step reads: the kept forwards, the metric, and where the estimates go (owned by the pass). */
    private record Context(
            HookedTransformer model,
            PairBatch batch,
            ForwardResult noise,
            ForwardResult clean,
            MetricBatch metric,
            double[] cleanMetrics,
            NDArray reference,
            Map<Integer, Map<BlockKey, NDArray>> byLayer) {}

    /**
     * Layer {@code l} run again from its kept inputs, each stream at its output (or the metric's own backward at the
     * top layer) pushed back through it, its nodes' estimates put in the context's {@code byLayer}. Returns the
     * streams at the layer's input, owned by {@code layer}'s scope.
     */
    private GradientStreams backThroughLayer(Context run, NDManager layer, int l, GradientStreams above, NodeSet own) {
        HookedTransformer model = run.model();
        ModelConfig config = model.config();
        boolean qkFix = variant.qkFix();
        boolean gradDrop = variant.gradDrop();
        boolean top = l == config.nLayers() - 1;
        String input = HookSites.residPre(l);
        String output = HookSites.residPost(l);
        GradientPass.Sites sites = own == null
                ? new GradientPass.Sites(List.of(), Set.of(), Set.of(), Set.of())
                : GradientPass.Sites.of(config, own, qkFix, false);
        Set<String> gradients = new LinkedHashSet<>(sites.gradient());
        gradients.add(input);
        if (top && gradDrop) {
            gradients.add(output); // where variant L - 1 starts: the full gradient at the top layer's output
        }
        Hooks.Builder hooks = Hooks.builder()
                .cache(sites.clean())
                .cache(output)
                .gradient(gradients)
                .attentionGradientInChunks()
                .attentionChunkRows(attentionRows);
        if (top) {
            hooks.unembedOnly(run.batch().positions);
        } else {
            hooks.stopAfter(output);
        }
        // The noise side without a graph.
        ForwardResult noiseLayer = own == null
                ? null
                : model.forwardFrom(
                        layer,
                        run.batch().noise,
                        l,
                        run.noise().activation(input),
                        Hooks.builder()
                                .cache(sites.noise())
                                .stopAfter(output)
                                .attentionChunkRows(attentionRows)
                                .build());
        NDManager pass = layer.getParentManager();
        try (GradientSession session = model.openGradientSessionFrom(
                layer, run.batch().clean, l, run.clean().activation(input), hooks.build(), top ? run.metric() : null)) {
            ForwardResult recomputed = session.result();
            if (top) {
                session.backward();
            } else {
                session.backwardFrom(output, above.full());
            }
            GradientStreams below =
                    GradientStreams.of(recomputed.gradient(input).duplicate());
            Map<BlockKey, NDArray> estimates = new LinkedHashMap<>();
            GradientPass estimator = null;
            if (own != null) {
                CleanSide side = new CleanSide(
                        recomputed.activations(),
                        sites.gradient(),
                        recomputed::gradient,
                        run.cleanMetrics(),
                        run.reference());
                estimator = new GradientPass(
                        model,
                        layer,
                        run.batch(),
                        own,
                        qkFix,
                        noiseLayer,
                        side,
                        keepQkTables,
                        recomputed::attentionInChunks);
                run.byLayer().put(l, estimates);
            }
            // Estimates are made with gradient mode off: made under it, they would record a graph back to the layer's
            // activations and, kept past the layer, hold its whole graph (190 MB a layer on the GPT-2-small shape at
            // 1,024 tokens).
            GradientPass reading = estimator;
            if (!gradDrop) {
                if (reading != null) {
                    session.outsideTheGraph(() -> {
                        for (BlockKey g : reading.groups()) {
                            NDArray e = reading.estimates(g);
                            e.attach(pass);
                            estimates.put(g, e);
                        }
                    });
                }
                return below;
            }
            NDArray atOutput = top ? recomputed.gradient(output).duplicate() : above.full();
            GradientEstimator.NodeScores scores =
                    reading == null ? null : new GradientEstimator.NodeScores(reading, estimates);
            if (scores != null) {
                session.outsideTheGraph(() -> scores.read(scores.groups(), scores::fullVariants));
            }
            for (Map.Entry<Integer, NDArray> stream : above.variants().entrySet()) {
                int stop = stream.getKey();
                session.zeroGradients(gradients);
                session.backwardFrom(output, stream.getValue());
                if (scores != null) {
                    List<BlockKey> changed = scores.groups().stream()
                            .filter(g -> scores.changedBy(g, stop))
                            .toList();
                    session.outsideTheGraph(() -> scores.read(changed, g -> 1));
                }
                below.variants().put(stop, recomputed.gradient(input).duplicate());
            }
            // Variant l: layer l is an identity for the gradient, so resid_pre(l) gets the full gradient at its
            // output; the layer's residual nodes are read under it, and the stream goes on below.
            if (scores != null && own.kinds().contains(NodeKind.RESIDUAL)) {
                NodeSet residual =
                        new NodeSet(EnumSet.of(NodeKind.RESIDUAL), new int[] {l}, own.perPosition(), own.positions());
                CleanSide identity = new CleanSide(
                        recomputed.activations(), Set.of(input), site -> atOutput, run.cleanMetrics(), run.reference());
                GradientPass residualPass =
                        new GradientPass(model, layer, run.batch(), residual, false, noiseLayer, identity, false, null);
                GradientEstimator.NodeScores residualScores = new GradientEstimator.NodeScores(residualPass, estimates);
                session.outsideTheGraph(() -> residualScores.read(residualScores.groups(), g -> 1));
            }
            if (l > 0) {
                below.variants().put(l, atOutput.duplicate());
            }
            estimates.values().forEach(e -> e.attach(pass));
            return below;
        }
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }

    /** Every pair's own estimates, for a list of pairs (tests). */
    public static LayerwiseGradientWork of(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant) {
        return new LayerwiseGradientWork(pairs, nodes, variant, new ArrayList<>());
    }
}
