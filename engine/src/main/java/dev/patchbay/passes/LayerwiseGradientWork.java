package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.GradientSession;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Precision;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * AtP, or AtP with the QK fix, with per-layer recomputation, as a pass: what a pair holds grows with one layer's
 * graph rather than every layer's. The clean and noise forwards run without a graph and keep only each layer's input
 * residual stream; the backward then goes down the layers: each layer is run again from its kept clean input with its
 * graph (and from its kept noise input without one, for its node sites), the gradient at its output pushed back
 * through it, its nodes' estimates made from that gradient at once, the gradient at its input handed to the layer
 * below, and the layer freed. The estimates are the plain pass's ({@link GradientWork}) to round-off: the same
 * products of the same values (LayerwiseGradientTest). Each layer's forward runs twice more: on the GPT-2-small shape
 * at 1,024 tokens AtP took 1.9 times the plain pass's time for 0.42 times its peak memory (bench --section memory).
 *
 * <p>GradDrop (AtP*) is not offered here: its variants would recompute the layers below each stop. Planning chooses
 * this pass when the plain one does not fit the memory budget ({@code AttributeNodes.plan}).
 *
 * @param sums as {@link GradientWork#sums()}
 */
public record LayerwiseGradientWork(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant, List<Integer> sums)
        implements Pass<GradientEstimates> {
    public LayerwiseGradientWork {
        pairs = List.copyOf(pairs);
        sums = List.copyOf(sums);
        if (variant.gradDrop()) {
            throw new IllegalArgumentException(
                    "per-layer recomputation runs AtP and AtP with the QK fix, not GradDrop");
        }
        if (!sums.isEmpty() && sums.stream().mapToInt(Integer::intValue).sum() != pairs.size()) {
            throw new IllegalArgumentException("sums " + sums + " do not cover " + pairs.size() + " pairs");
        }
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
                        nodes.perPosition());
    }

    @Override
    public GradientEstimates run(PassContext context) {
        long start = System.nanoTime();
        HookedTransformer model = context.model();
        ModelConfig config = model.config();
        int layers = config.nLayers();
        boolean qkFix = variant.qkFix();
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
            NDArray upstream = null;
            for (int l = layers - 1; l >= 0; l--) {
                NodeSet own = scored.contains(l)
                        ? new NodeSet(nodes.kinds(), new int[] {l}, nodes.perPosition(), nodes.positions())
                        : null;
                try (NDManager layer = scope.newSubManager()) {
                    NDArray below = backThroughLayer(
                            model,
                            layer,
                            batch,
                            l,
                            noise,
                            clean,
                            metric,
                            upstream,
                            own,
                            qkFix,
                            cleanMetrics,
                            reference,
                            byLayer);
                    below.attach(scope);
                    if (upstream != null) {
                        upstream.close();
                    }
                    upstream = below;
                }
            }
            Map<BlockKey, NDArray> onDevice = new LinkedHashMap<>();
            for (int l : nodes.layers(config)) {
                onDevice.putAll(byLayer.get(l));
            }
            Map<BlockKey, double[][]> estimates = GradientEstimator.readBack(onDevice, sums);
            // In the paper's unit, two forwards and a backward per pair, as the plain pass; the compute adds each
            // layer's forward run again, clean and noise.
            double passes = 4.0 * batch.size();
            return new GradientEstimates(
                    estimates,
                    sums,
                    nodes.positions(batch.clean.length()),
                    cleanMetrics,
                    noiseMetrics,
                    new Cost(passes, passes + 2.0 * batch.size(), (System.nanoTime() - start) / 1e9),
                    GradientEstimates.CacheUse.NOT_APPLICABLE);
        }
    }

    /**
     * Layer {@code l} run again from its kept inputs, the gradient at its output ({@code upstream}, or the metric's own
     * backward at the top layer) pushed back through it, its nodes' estimates put in {@code byLayer} (owned by the
     * pass). Returns the gradient at the layer's input, owned by {@code layer}'s scope.
     */
    private NDArray backThroughLayer(
            HookedTransformer model,
            NDManager layer,
            PairBatch batch,
            int l,
            ForwardResult noise,
            ForwardResult clean,
            MetricBatch metric,
            NDArray upstream,
            NodeSet own,
            boolean qkFix,
            double[] cleanMetrics,
            NDArray reference,
            Map<Integer, Map<BlockKey, NDArray>> byLayer) {
        ModelConfig config = model.config();
        boolean top = l == config.nLayers() - 1;
        String input = HookSites.residPre(l);
        String output = HookSites.residPost(l);
        GradientPass.Sites sites = own == null
                ? new GradientPass.Sites(List.of(), Set.of(), Set.of(), Set.of())
                : GradientPass.Sites.of(config, own, qkFix);
        Set<String> gradients = new LinkedHashSet<>(sites.gradient());
        gradients.add(input);
        Hooks.Builder hooks = Hooks.builder().cache(sites.clean()).cache(output).gradient(gradients);
        if (top) {
            hooks.unembedOnly(batch.positions);
        } else {
            hooks.stopAfter(output);
        }
        // The noise side without a graph.
        ForwardResult noiseLayer = own == null
                ? null
                : model.forwardFrom(
                        layer,
                        batch.noise,
                        l,
                        noise.activation(input),
                        Hooks.builder().cache(sites.noise()).stopAfter(output).build());
        ForwardResult recomputed;
        try (GradientSession session = model.openGradientSessionFrom(
                layer, batch.clean, l, clean.activation(input), hooks.build(), top ? metric : null)) {
            if (top) {
                session.backward();
            } else {
                session.backwardFrom(output, upstream);
            }
            recomputed = session.result();
        }
        // The estimates with gradient mode off: made under it, they would record a graph back to the layer's
        // activations and, kept past the layer, hold its whole graph (190 MB a layer on the GPT-2-small shape at
        // 1,024 tokens).
        if (own != null) {
            CleanSide side = new CleanSide(
                    recomputed.activations(), sites.gradient(), recomputed::gradient, cleanMetrics, reference);
            try (GradientPass pass = new GradientPass(model, layer, batch, own, qkFix, noiseLayer, side)) {
                Map<BlockKey, NDArray> estimates = new LinkedHashMap<>();
                for (BlockKey g : pass.groups()) {
                    NDArray e = pass.estimates(g);
                    e.attach(layer.getParentManager());
                    estimates.put(g, e);
                }
                byLayer.put(l, estimates);
            }
        }
        return recomputed.gradient(input).duplicate();
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }

    /** Every pair's own estimates, for a list of pairs (tests). */
    public static LayerwiseGradientWork of(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant) {
        return new LayerwiseGradientWork(pairs, nodes, variant, new ArrayList<>());
    }
}
