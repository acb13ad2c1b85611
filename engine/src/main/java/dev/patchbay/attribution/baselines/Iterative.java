package dev.patchbay.attribution.baselines;

import dev.patchbay.attribution.AttributionListener;
import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The Iterative baseline: no scoring at all, just activation patching in a uniformly random order. Its
 * "estimates" only encode that order (the first node scores 1, the last 1/N); its cost is what verifying in
 * that order costs.
 */
public final class Iterative implements AttributionMethod {
    private final long seed;

    public Iterative(long seed) {
        this.seed = seed;
    }

    @Override
    public String id() {
        return "iterative";
    }

    @Override
    public double plannedForwardPasses(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes) {
        return 0;
    }

    @Override
    public AttributionResult run(
            PassRunner runner, List<PromptPair> pairs, NodeSet nodes, AttributionListener listener) {
        var config = runner.model().config();
        PairBatch.validate(pairs, nodes, config);
        List<Node> order = new ArrayList<>(nodes.enumerate(config, pairs.get(0).length()));
        Collections.shuffle(order, new Random(seed));
        Map<Node, Double> scores = new HashMap<>();
        for (int rank = 0; rank < order.size(); rank++) {
            scores.put(order.get(rank), (double) (order.size() - rank) / order.size());
        }
        List<EffectBlock> blocks =
                PatchingBaseline.blocks(nodes, config, pairs.get(0).length(), scores);
        blocks.forEach(listener::onBlock);
        return new AttributionResult(
                id(),
                pairs.get(0).metric().describe(),
                pairs.size(),
                Double.NaN,
                Double.NaN,
                blocks,
                new Cost(0, 0, 0));
    }
}
