package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Exact activation patching, the ground truth (eq. 2): I(n) = metric(clean run with n set to its noise value)
 * - metric(clean run). One patched run per node and pair, batched one node per row, and resumed from the clean
 * run's residual stream entering the node's layer, so earlier layers are not recomputed. Over a distribution
 * the estimate is the signed mean of I(n); c(n) (eq. 1) is its absolute value.
 */
public final class ActivationPatching implements AttributionMethod {
    private final int maxRows;

    /** @param maxRows patched runs per forward pass */
    public ActivationPatching(int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be positive");
        }
        this.maxRows = maxRows;
    }

    @Override
    public String id() {
        return "ap";
    }

    @Override
    public AttributionResult run(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes,
            AttributionListener listener) {
        ModelConfig config = model.config();
        PairBatch.validate(pairs, nodes, config);
        long start = System.nanoTime();
        int[] layers = nodes.layers(config);
        List<Group> groups = new ArrayList<>();
        for (int layer : layers) {
            for (NodeKind kind : nodes.orderedKinds()) {
                groups.add(new Group(kind, layer, nodes.positions(pairs.get(0).length()), kind.units(config)));
            }
        }
        long perPair = groups.stream().mapToLong(g -> g.sums.length).sum();
        long total = perPair * pairs.size();
        double passes = 0;
        double compute = 0;
        double cleanSum = 0;
        double noiseSum = 0;
        long done = 0;
        for (int p = 0; p < pairs.size(); p++) {
            PromptPair pair = pairs.get(p);
            boolean last = p == pairs.size() - 1;
            try (NDManager scope = NDManager.newBaseManager("PyTorch")) {
                Set<String> residSites = new HashSet<>();
                Set<String> nodeSites = new HashSet<>();
                for (Group g : groups) {
                    residSites.add(HookSites.residPre(g.layer));
                    nodeSites.add(g.kind.site(g.layer));
                }
                TokenBatch cleanTokens = TokenBatch.of(pair.clean());
                ForwardResult clean = model.forward(scope, cleanTokens, Hooks.builder().cache(residSites).build());
                ForwardResult noise = model.forward(scope, TokenBatch.of(pair.noise()), Hooks.builder().cache(nodeSites).build());
                MetricBatch own = new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null);
                NDArray cleanLast = own.atPositions(clean.logits());
                NDArray reference = cleanLast.logSoftmax(-1);
                double cleanMetric = firstValue(own.apply(clean.logits()));
                MetricBatch vsClean = new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()},
                        reference);
                cleanSum += cleanMetric;
                noiseSum += firstValue(vsClean.apply(noise.logits()));
                passes += 2;
                compute += 2;
                for (Group g : groups) {
                    for (int from = 0; from < g.sums.length; from += maxRows) {
                        int rows = Math.min(maxRows, g.sums.length - from);
                        double[] effects = patchedRuns(model, scope, pair, g, from, rows, clean, noise, reference);
                        for (int r = 0; r < rows; r++) {
                            g.sums[from + r] += effects[r] - cleanMetric;
                        }
                        passes += rows;
                        compute += rows * (double) (config.nLayers() - g.layer) / config.nLayers();
                        done += rows;
                        listener.onProgress(done, total);
                    }
                    if (last) {
                        double[] mean = g.sums.clone();
                        for (int i = 0; i < mean.length; i++) {
                            mean[i] /= pairs.size();
                        }
                        listener.onBlock(g.block(mean));
                    }
                }
            }
        }
        List<EffectBlock> blocks = groups.stream().map(g -> {
            double[] mean = g.sums.clone();
            for (int i = 0; i < mean.length; i++) {
                mean[i] /= pairs.size();
            }
            return g.block(mean);
        }).toList();
        return new AttributionResult(id(), pairs.get(0).metric().describe(), pairs.size(), cleanSum / pairs.size(),
                noiseSum / pairs.size(), blocks, new Cost(passes, compute, (System.nanoTime() - start) / 1e9));
    }

    /** The metric of {@code rows} runs, each patching one node of the group, resumed at the group's layer. */
    private static double[] patchedRuns(HookedTransformer model, NDManager parent, PromptPair pair, Group g, int from,
            int rows, ForwardResult clean, ForwardResult noise, NDArray reference) {
        try (NDManager scope = parent.newSubManager()) {
            String site = g.kind.site(g.layer);
            NDArray source = noise.activation(site).get("0");
            Hooks.Builder hooks = Hooks.builder();
            int[][] tokens = new int[rows][];
            for (int r = 0; r < rows; r++) {
                Node node = g.node(from + r);
                hooks.patch(site, Patch.of(r, source, node.position() < 0 ? null : new int[] {node.position()},
                        g.kind.hasUnits() ? new int[] {node.unit()} : null));
                tokens[r] = pair.clean();
            }
            NDArray residPre = clean.activation(HookSites.residPre(g.layer));
            NDArray start = residPre.repeat(0, rows);
            List<Metric> metrics = new ArrayList<>();
            int[] positions = new int[rows];
            NDList references = new NDList();
            for (int r = 0; r < rows; r++) {
                metrics.add(pair.metric());
                positions[r] = pair.metricPosition();
                references.add(reference);
            }
            ForwardResult patched = model.forwardFrom(scope, TokenBatch.of(tokens), g.layer, start, hooks.build(), positions);
            // The logits are [rows, 1, V]: the metric reads position 0 of each.
            NDArray values = new MetricBatch(scope, metrics, new int[rows], NDArrays.concat(references))
                    .apply(patched.logits());
            return values.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray();
        }
    }

    /** Reads element 0 whatever the compute dtype (NDArray.getDouble insists on float64). */
    private static double firstValue(NDArray a) {
        return a.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble(0);
    }

    /** The nodes of one kind in one layer, with their running sums of effects over pairs. */
    private static final class Group {
        final NodeKind kind;
        final int layer;
        final int[] positions;
        final int units;
        final double[] sums;

        Group(NodeKind kind, int layer, int[] positions, int units) {
            this.kind = kind;
            this.layer = layer;
            this.positions = positions;
            this.units = units;
            this.sums = new double[units * (positions == null ? 1 : positions.length)];
        }

        Node node(int index) {
            return block(sums).node(index);
        }

        EffectBlock block(double[] values) {
            return new EffectBlock(kind, layer, positions, units, values);
        }
    }
}
