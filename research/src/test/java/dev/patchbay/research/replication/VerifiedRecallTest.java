package dev.patchbay.research.replication;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.baselines.Iterative;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class VerifiedRecallTest {
    private static Node neuron(int unit) {
        return new Node(NodeKind.NEURON, 0, unit, -1);
    }

    private static AttributionResult.Scored scored(int unit, double effect) {
        return new AttributionResult.Scored(neuron(unit), effect);
    }

    @Test
    void costIsTheUpFrontCostPlusTheLatestPlaceAmongTheTopK() {
        List<AttributionResult.Scored> top = List.of(scored(0, 3), scored(1, -2), scored(2, 1));
        Map<Node, Long> places = Map.of(neuron(0), 3L, neuron(1), 1L, neuron(2), 7L);
        assertArrayEquals(new double[] {7, 7, 11}, VerifiedRecall.cost(top, places, 4), 0);
        assertThrows(IllegalArgumentException.class, () -> VerifiedRecall.cost(top, Map.of(neuron(0), 1L), 0));
    }

    @Test
    void relativeCostIsOneForTheOracleAndWeighsSmallKMost() {
        assertEquals(1.0, VerifiedRecall.relativeCost(new double[] {1, 2, 3, 4}), 1e-12);
        assertEquals(2.0, VerifiedRecall.relativeCost(new double[] {2, 4, 6, 8}), 1e-12);
        // k=1 costs 2x (weight 1), k=2 costs 1x (weight 1/2): exp(log 2 / 1.5)
        assertEquals(Math.pow(2, 2.0 / 3), VerifiedRecall.relativeCost(new double[] {2, 2}), 1e-12);
    }

    @Test
    void theTrueTopLeavesOutEffectsThatAreZero() {
        double[] effects = {0.5, -2.0, 0.0, 1e-12, 0.25};
        AttributionResult truth = new AttributionResult(
                "ap",
                "m",
                1,
                0,
                0,
                List.of(new EffectBlock(NodeKind.NEURON, 0, null, effects.length, effects)),
                new Cost(0, 0, 0));
        List<AttributionResult.Scored> top = VerifiedRecall.trueTop(truth, 10, 1e-9);
        assertEquals(
                List.of(neuron(1), neuron(0), neuron(4)),
                top.stream().map(AttributionResult.Scored::node).toList());
        assertEquals(2, VerifiedRecall.trueTop(truth, 2, 1e-9).size());
    }

    /**
     * An oracle that is not our code: in a uniformly random order the last of k given nodes among N comes, on
     * average, at place k(N+1)/(k+1) (the expected maximum of k of N places drawn without replacement).
     */
    @Test
    void iterativeMatchesTheExpectedMaximumOfRandomPlaces() {
        try (LoadedModel loaded = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32)) {
            int[] prompt = {5, 9, 2, 7, 3, 8};
            PromptPair pair = new PromptPair(prompt, prompt, Metric.logitDiff(new int[] {1}, new int[] {2}));
            NodeSet nodes = NodeSet.attention();
            List<Node> all = nodes.enumerate(loaded.config(), prompt.length);
            int n = all.size();
            int seeds = 1000;
            for (int k : new int[] {1, 4, 20}) {
                List<AttributionResult.Scored> top = all.subList(0, k).stream()
                        .map(x -> new AttributionResult.Scored(x, 1))
                        .toList();
                double mean = 0;
                for (long seed = 0; seed < seeds; seed++) {
                    AttributionResult order = new Iterative(seed).run(loaded.transformer(), List.of(pair), nodes);
                    mean += VerifiedRecall.cost(top, VerifiedRecall.places(order.ranked()), 0)[k - 1] / seeds;
                }
                double expected = k * (n + 1.0) / (k + 1);
                // the maximum's standard deviation is at most N/sqrt(12); over 1000 seeds its mean is within
                // 4 standard errors (4 * 0.29 N / 31.6 = 3.7% of N) but for a 1-in-15,000 chance
                assertEquals(expected, mean, 0.037 * n, "k = " + k + " of " + n + " nodes");
            }
        }
    }
}
