package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.ForwardPass;
import dev.patchbay.passes.MetricBatch;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.PatchBatch;
import dev.patchbay.passes.PatchRow;
import java.util.ArrayList;
import java.util.LinkedHashSet;
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
    public double plannedForwardPasses(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes) {
        return pairs.size() * (2 + nodes.count(model.config(), pairs.get(0).length()));
    }

    @Override
    public AttributionResult run(
            PassRunner runner, List<PromptPair> pairs, NodeSet nodes, AttributionListener listener) {
        ModelConfig config = runner.model().config();
        PairBatch.validate(pairs, nodes, config);
        long start = System.nanoTime();
        List<Group> groups = new ArrayList<>();
        for (int layer : nodes.layers(config)) {
            for (NodeKind kind : nodes.orderedKinds()) {
                groups.add(new Group(kind, layer, nodes.positions(pairs.get(0).length()), kind.units(config)));
            }
        }
        long total = groups.stream().mapToLong(g -> g.sums.length).sum() * pairs.size();
        Tally tally = new Tally();
        for (int p = 0; p < pairs.size(); p++) {
            PromptPair pair = pairs.get(p);
            try (NDManager scope = runner.model().compute().newScope()) {
                Set<String> residSites = new LinkedHashSet<>();
                Set<String> nodeSites = new LinkedHashSet<>();
                for (Group g : groups) {
                    residSites.add(HookSites.residPre(g.layer));
                    nodeSites.add(g.kind.site(g.layer));
                }
                CleanAndNoise runs = CleanAndNoise.of(runner, scope, pair, residSites, nodeSites, tally);
                for (Group g : groups) {
                    String site = g.kind.site(g.layer);
                    NDArray source = runs.noise.sites().get(site).get("0");
                    NDArray residPre = runs.clean.sites().get(HookSites.residPre(g.layer));
                    for (int from = 0; from < g.sums.length; from += maxRows) {
                        int rows = Math.min(maxRows, g.sums.length - from);
                        List<PatchRow> batch = new ArrayList<>(rows);
                        for (int r = 0; r < rows; r++) {
                            Node node = g.block().node(from + r);
                            Patch patch = Patch.of(
                                    0,
                                    source,
                                    node.position() < 0 ? null : new int[] {node.position()},
                                    g.kind.hasUnits() ? new int[] {node.unit()} : null);
                            batch.add(new PatchRow(
                                    pair.clean(),
                                    g.layer,
                                    residPre,
                                    List.of(new PatchRow.SitePatch(site, patch)),
                                    pair.metric(),
                                    pair.metricPosition(),
                                    runs.reference));
                        }
                        double[] metrics = runner.run(new PatchBatch(batch));
                        for (int r = 0; r < rows; r++) {
                            g.sums[from + r] += metrics[r] - runs.cleanMetric;
                        }
                        tally.rows(rows, (double) (config.nLayers() - g.layer) / config.nLayers());
                        listener.onProgress(tally.rows, total);
                    }
                    if (p == pairs.size() - 1) {
                        listener.onBlock(g.block(pairs.size()));
                    }
                }
            }
        }
        return new AttributionResult(
                id(),
                pairs.get(0).metric().describe(),
                pairs.size(),
                tally.clean / pairs.size(),
                tally.noise / pairs.size(),
                groups.stream().map(g -> g.block(pairs.size())).toList(),
                new Cost(tally.passes, tally.compute, (System.nanoTime() - start) / 1e9));
    }

    /** A pair's clean and noise runs with the metric's clean value and the clean log-probs (for KL). */
    record CleanAndNoise(
            ForwardPass.Activations clean, ForwardPass.Activations noise, double cleanMetric, NDArray reference) {
        static CleanAndNoise of(
                PassRunner runner,
                NDManager scope,
                PromptPair pair,
                Set<String> cleanSites,
                Set<String> noiseSites,
                Tally tally) {
            ForwardPass.Activations clean = runner.run(new ForwardPass(scope, pair.clean(), cleanSites, true));
            ForwardPass.Activations noise = runner.run(new ForwardPass(scope, pair.noise(), noiseSites, false));
            int[] position = {pair.metricPosition()};
            MetricBatch own = new MetricBatch(scope, List.of(pair.metric()), position, null);
            NDArray reference = own.atPositions(clean.logits()).logSoftmax(-1);
            double cleanMetric = first(own.apply(clean.logits()));
            tally.clean += cleanMetric;
            tally.noise +=
                    first(new MetricBatch(scope, List.of(pair.metric()), position, reference).apply(noise.logits()));
            tally.passes += 2;
            tally.compute += clean.fromCache() ? 1 : 2;
            return new CleanAndNoise(clean, noise, cleanMetric, reference);
        }

        /** Element 0 whatever the compute dtype (NDArray.getDouble insists on float64). */
        private static double first(NDArray a) {
            return a.toType(DataType.FLOAT64, false).getDouble(0);
        }
    }

    /** Running totals of a request. */
    static final class Tally {
        double clean;
        double noise;
        double passes;
        double compute;
        long rows;

        void rows(int count, double fractionOfModel) {
            rows += count;
            passes += count;
            compute += count * fractionOfModel;
        }
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

        EffectBlock block() {
            return new EffectBlock(kind, layer, positions, units, sums);
        }

        /** The mean effects over {@code pairs}. */
        EffectBlock block(int pairs) {
            double[] mean = sums.clone();
            for (int i = 0; i < mean.length; i++) {
                mean[i] /= pairs;
            }
            return new EffectBlock(kind, layer, positions, units, mean);
        }
    }
}
