package dev.patchbay.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.ToyModels;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A batch's estimates are read from the device as one row per pair of every block side by side, and split into
 * the blocks on the host: each pair must get its own values in every block, and a float32 model's estimates (summed
 * and read in float32) must stay within float32's error of the float64 model's.
 */
class GradientReadBackTest {
    private static final NodeSet NODES = NodeSet.attentionAndNeurons();

    private static List<PromptPair> pairs() {
        PromptPair a = ToyModels.pair("tiny-gpt2");
        PromptPair b = new PromptPair(a.noise(), a.clean(), Metric.logitDiff(new int[] {7}, new int[] {3}));
        PromptPair c = new PromptPair(a.clean(), a.noise(), Metric.logitDiff(new int[] {40}, new int[] {11}));
        return List.of(a, b, c);
    }

    @ParameterizedTest
    @EnumSource(GradientVariant.class)
    void eachPairOfABatchGetsItsOwnEstimatesInEveryBlock(GradientVariant variant) {
        try (LoadedModel loaded = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT64)) {
            List<PromptPair> pairs = pairs();
            GradientEstimates batch =
                    GradientEstimator.run(loaded.transformer(), new GradientWork(pairs, NODES, variant));
            for (int p = 0; p < pairs.size(); p++) {
                GradientEstimates alone = GradientEstimator.run(
                        loaded.transformer(), new GradientWork(List.of(pairs.get(p)), NODES, variant));
                assertEquals(alone.groups(), batch.groups());
                for (BlockKey g : alone.estimates().keySet()) {
                    double[] expected = alone.estimates().get(g)[0];
                    double[] got = batch.estimates().get(g)[p];
                    assertEquals(expected.length, got.length, g + " pair " + p);
                    for (int i = 0; i < expected.length; i++) {
                        // float64 throughout: a batch and a single pair differ only in summation order.
                        assertEquals(expected[i], got[i], 1e-12 * (1 + Math.abs(expected[i])), g + " pair " + p);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(GradientVariant.class)
    void float32EstimatesStayWithinFloat32ErrorOfFloat64(GradientVariant variant) {
        try (LoadedModel precise = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT64);
                LoadedModel single = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32)) {
            List<PromptPair> pairs = pairs();
            GradientEstimates reference =
                    GradientEstimator.run(precise.transformer(), new GradientWork(pairs, NODES, variant));
            GradientEstimates got =
                    GradientEstimator.run(single.transformer(), new GradientWork(pairs, NODES, variant));
            double largest = 0;
            double worst = 0;
            for (BlockKey g : reference.estimates().keySet()) {
                for (int p = 0; p < pairs.size(); p++) {
                    double[] expected = reference.estimates().get(g)[p];
                    double[] actual = got.estimates().get(g)[p];
                    for (int i = 0; i < expected.length; i++) {
                        largest = Math.max(largest, Math.abs(expected[i]));
                        worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
                    }
                }
            }
            assertTrue(largest > 0, "estimates must not all be zero");
            // float32's epsilon is 1.2e-7; the forward, backward and each node's sum over d_head add errors of a few
            // dozen such steps relative to the largest magnitudes involved: 1e-5 of the largest estimate is ample,
            // and a float16-sized error (1e-3) would fail.
            assertTrue(
                    worst <= 1e-5 * largest,
                    variant + ": largest error " + worst + " against largest estimate " + largest);
        }
    }
}
