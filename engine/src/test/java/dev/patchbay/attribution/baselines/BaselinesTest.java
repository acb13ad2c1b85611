package dev.patchbay.attribution.baselines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.attribution.ActivationPatching;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.NodePatching;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The paper's baselines against exact activation patching and against Algorithm 1's exactness property. */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class BaselinesTest extends Float64Models {
    private static final NodeSet NODES =
            new NodeSet(EnumSet.of(NodeKind.HEAD_OUTPUT, NodeKind.NEURON), null, false, null);

    @Test
    void subsamplingStatisticsRecoverAdditiveEffectsExactlyFromAllSubsets() {
        double[] effects = {0.7, -1.3, 0.0, 2.5, -0.2};
        SubsampleStats stats = new SubsampleStats(effects.length);
        for (int mask = 1; mask < 1 << effects.length; mask++) {
            boolean[] in = new boolean[effects.length];
            double total = 0;
            for (int n = 0; n < effects.length; n++) {
                in[n] = (mask >> n & 1) == 1;
                total += in[n] ? effects[n] : 0;
            }
            stats.add(in, total);
        }
        // The empty subset is never run (it patches nothing); add its zero effect to make all 2^m subsets.
        stats.add(new boolean[effects.length], 0);
        for (int n = 0; n < effects.length; n++) {
            assertEquals(effects[n], stats.difference(n), 1e-12);
            assertTrue(stats.variance(1, n) >= 0 && stats.count(0, n) == 16);
        }
    }

    @Test
    void blocksOfOneAndAFullHierarchyAreExactActivationPatching() {
        HookedTransformer model = model("tiny-gpt2");
        List<PromptPair> pair = List.of(ToyModels.pair("tiny-gpt2"));
        AttributionResult exact = new ActivationPatching(32).run(model, pair, NODES);
        AttributionResult blocks = new Blocks(1, 32).run(model, pair, NODES);
        AttributionResult tree = new Hierarchical(4, 0, 32).run(model, pair, NODES);
        for (AttributionResult.Scored s : exact.ranked()) {
            assertEquals(
                    s.estimate(),
                    blocks.estimate(s.node().name()),
                    1e-12,
                    s.node().name());
            assertEquals(
                    s.estimate(),
                    tree.estimate(s.node().name()),
                    1e-12,
                    s.node().name());
        }
        int nodes = exact.ranked().size();
        assertEquals(2 + nodes, blocks.cost().forwardPasses(), "one run per block, after the clean and noise runs");
        assertTrue(tree.cost().forwardPasses() > 2 + nodes, "the tree also patched its inner groups");
    }

    @Test
    void blocksScoreEachNodeWithItsBlocksJointEffect() {
        HookedTransformer model = model("tiny-llama");
        List<PromptPair> pair = List.of(ToyModels.pair("tiny-llama"));
        NodeSet heads = NodeSet.heads();
        AttributionResult blocks = new Blocks(3, 8).run(model, pair, heads);
        List<Node> order = heads.enumerate(model.config(), pair.get(0).length());
        List<Node> first = order.subList(0, 3);
        double joint = new NodePatching(PassRunner.direct(model), pair, first, 8).patch(List.of(first))[0];
        for (Node n : first) {
            assertEquals(joint, blocks.estimate(n.name()), 1e-12);
        }
        assertEquals(2 + Math.ceil(order.size() / 3.0), blocks.cost().forwardPasses());
    }

    @Test
    void subsamplingFindsTheLargestEffectAndCostsItsSamples() {
        HookedTransformer model = ToyModels.linear(manager, new java.util.Random(5));
        PromptPair pair = new PromptPair(
                new int[] {3, 7, 1, 19, 4, 12},
                new int[] {8, 7, 2, 5, 4, 0},
                Metric.logitDiff(new int[] {2, 5}, new int[] {9}));
        NodeSet heads = NodeSet.heads();
        AttributionResult exact = new ActivationPatching(8).run(model, List.of(pair), heads);
        AttributionResult sub = new Subsampling(400, 0.5, 7, 64).run(model, List.of(pair), heads);
        assertEquals(exact.ranked().get(0).node(), sub.ranked().get(0).node());
        assertEquals(402, sub.cost().forwardPasses());
    }

    @Test
    void iterativeIsASeededRandomOrderAtNoCost() {
        HookedTransformer model = model("tiny-gpt2");
        List<PromptPair> pair = List.of(ToyModels.pair("tiny-gpt2"));
        AttributionResult a = new Iterative(1).run(model, pair, NODES);
        AttributionResult b = new Iterative(1).run(model, pair, NODES);
        AttributionResult c = new Iterative(2).run(model, pair, NODES);
        assertEquals(a.ranked(), b.ranked());
        assertTrue(!a.ranked().equals(c.ranked()));
        assertEquals(0, a.cost().forwardPasses());
        Set<Node> all =
                new HashSet<>(NODES.enumerate(model.config(), pair.get(0).length()));
        assertEquals(
                all,
                new HashSet<>(
                        a.ranked().stream().map(AttributionResult.Scored::node).toList()));
    }

    @Test
    void anInclusionProbabilityThatLeavesSubsetsEmptyIsRefusedInsteadOfLoopingForEver() {
        var refused = assertThrows(IllegalArgumentException.class, () -> Subsampling.checkInclusion(100, 1e-12));
        assertTrue(refused.getMessage().contains("too small for 100 nodes"), refused.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Subsampling.checkInclusion(100, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> new Subsampling(10, Double.NaN, 0, 8));
        double least = Subsampling.minimumInclusion(100);
        Subsampling.checkInclusion(100, least * 1.0001);
        assertThrows(IllegalArgumentException.class, () -> Subsampling.checkInclusion(100, least * 0.9999));
        // At the least accepted probability a subset is non-empty one draw in a thousand.
        assertEquals(1e-3, -Math.expm1(100 * Math.log1p(-least)), 1e-12);
    }
}
