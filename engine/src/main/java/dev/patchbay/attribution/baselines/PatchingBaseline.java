package dev.patchbay.attribution.baselines;

import dev.patchbay.attribution.AttributionListener;
import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.NodePatching;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the paper's baselines share: they score nodes by patching groups of them jointly (exact activation
 * patching of each group, averaged over pairs) and report the scores in the same blocks as every method.
 */
abstract class PatchingBaseline implements AttributionMethod {
    /** Scores for {@code nodes} (canonical order) from patching groups of them jointly. */
    abstract Map<Node, Double> score(List<Node> nodes, NodePatching patching);

    private final int chunk;

    PatchingBaseline(int chunk) {
        this.chunk = chunk;
    }

    @Override
    public AttributionResult run(
            PassRunner runner, List<PromptPair> pairs, NodeSet nodes, AttributionListener listener) {
        ModelConfig config = runner.model().config();
        PairBatch.validate(pairs, nodes, config);
        long start = System.nanoTime();
        List<Node> all = nodes.enumerate(config, pairs.get(0).length());
        try (NodePatching patching = new NodePatching(runner, pairs, all, chunk)
                .reportingTo(listener, plannedForwardPasses(runner.model(), pairs, nodes))) {
            Map<Node, Double> scores = score(all, patching);
            List<EffectBlock> blocks = blocks(nodes, config, pairs.get(0).length(), scores);
            blocks.forEach(listener::onBlock);
            Cost cost = patching.cost();
            return new AttributionResult(
                    id(),
                    pairs.get(0).metric().describe(),
                    pairs.size(),
                    patching.cleanMetric(),
                    patching.noiseMetric(),
                    blocks,
                    new Cost(cost.forwardPasses(), cost.computeEquivalents(), (System.nanoTime() - start) / 1e9));
        }
    }

    @Override
    public double plannedForwardPasses(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes) {
        return pairs.size()
                * (2 + plannedGroups(nodes.count(model.config(), pairs.get(0).length())));
    }

    /** Group patches this baseline plans for {@code nodes} nodes. */
    abstract double plannedGroups(long nodes);

    /** Scores laid out in the usual blocks, one per layer and kind. */
    static List<EffectBlock> blocks(NodeSet nodes, ModelConfig config, int length, Map<Node, Double> scores) {
        int[] positions = nodes.positions(length);
        List<EffectBlock> out = new ArrayList<>();
        for (int layer : nodes.layers(config)) {
            for (NodeKind kind : nodes.orderedKinds()) {
                int units = kind.units(config);
                double[] v = new double[units * (positions == null ? 1 : positions.length)];
                EffectBlock block = new EffectBlock(kind, layer, positions, units, v);
                for (int i = 0; i < v.length; i++) {
                    v[i] = scores.getOrDefault(block.node(i), 0.0);
                }
                out.add(block);
            }
        }
        return out;
    }
}
