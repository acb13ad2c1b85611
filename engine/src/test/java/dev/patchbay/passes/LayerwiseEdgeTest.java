package dev.patchbay.passes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Edge estimates with per-layer recomputation against the plain edge pass (itself checked against separate backward
 * passes, patched patterns and one gradient pass per interpolation step in EdgeAtPStarTest, and against exact edge
 * patching in EdgeEstimatesTest): every estimate (EAP, EAP-IG, the QK fix and GradDrop alone and together as AtP*),
 * over all positions for two pairs of different lengths and per position for one, on every family in float64, with
 * the recomputed layer's attention in chunks of 1 and 3 query rows (a chunk boundary inside the sliding window of 4
 * of Mistral and Gemma 2; the dynamic-NTK family runs past its trained positions in the toy pairs) and in one chunk.
 * The tolerance, 1e-10 of the largest estimate, is round-off: both passes multiply the same values, but the layers'
 * graphs are built again, the QK fix's sums go by chunks of rows, EAP-IG adds its products per batch of runs rather
 * than its gradients, and libtorch may sum in another order.
 */
class LayerwiseEdgeTest extends Float64Models {
    private static List<PromptPair> pairs(String name) {
        return ToyModels.pairsOfTwoLengths(name);
    }

    @ParameterizedTest
    @MethodSource("models")
    void perLayerRecomputationGivesThePlainPassesEdgeEstimates(String name) {
        HookedTransformer model = model(name);
        PassRunner runner = PassRunner.direct(model);
        List<PromptPair> pairs = pairs(name);
        Gap gap = new Gap();
        int form = 0;
        for (EdgeEstimate estimate : EdgeEstimate.values()) {
            for (boolean perPosition : new boolean[] {false, true}) {
                // Per position needs one length: the first pair alone.
                List<PromptPair> batch = perPosition ? pairs.subList(0, 1) : pairs;
                int steps = estimate.integrated() ? 3 : 0;
                EdgeEstimates plain = runner.run(new EdgeWork(batch, estimate, steps, perPosition));
                // Attention rows per chunk: one, three, or the default (the whole prompt here), in turn.
                int rows = new int[] {1, 3, 0}[form++ % 3];
                EdgeEstimates layerwise = runner.run(new LayerwiseEdgeWork(batch, estimate, steps, perPosition, rows));
                assertEquals(plain.estimates().keySet(), layerwise.estimates().keySet(), "every reader group");
                assertArrayEquals(plain.cleanMetrics(), layerwise.cleanMetrics(), 1e-12);
                assertArrayEquals(plain.noiseMetrics(), layerwise.noiseMetrics(), 1e-12);
                assertArrayEquals(plain.positions(), layerwise.positions());
                gap.add(estimate + (perPosition ? " per position" : ""), plain, layerwise);
            }
        }
        gap.assertRoundOff(name);
    }

    /**
     * EAP-IG over two pairs of different lengths in one batch equals each pair run alone, plain and recomputed: each
     * pair's interpolated runs are its own length (they had been the batch's padded rows, which the patch refused).
     */
    @ParameterizedTest
    @MethodSource("models")
    void eapIgOverPairsOfDifferentLengthsEqualsEachPairAlone(String name) {
        HookedTransformer model = model(name);
        PassRunner runner = PassRunner.direct(model);
        List<PromptPair> pairs = pairs(name);
        for (boolean recomputed : new boolean[] {false, true}) {
            Gap gap = new Gap();
            EdgeEstimates both = run(runner, pairs, recomputed);
            for (int p = 0; p < pairs.size(); p++) {
                EdgeEstimates alone = run(runner, List.of(pairs.get(p)), recomputed);
                int row = p;
                EdgeEstimates ofBoth = new EdgeEstimates(
                        Map.copyOf(both.estimates().entrySet().stream()
                                .collect(Collectors.toMap(Map.Entry::getKey, e -> new double[][] {e.getValue()[row]}))),
                        null,
                        new double[] {both.cleanMetrics()[p]},
                        new double[] {both.noiseMetrics()[p]},
                        both.cost());
                gap.add("pair " + p, alone, ofBoth);
            }
            gap.assertRoundOff(name + (recomputed ? " recomputed" : " plain"));
        }
    }

    private static EdgeEstimates run(PassRunner runner, List<PromptPair> pairs, boolean recomputed) {
        return runner.run(
                recomputed
                        ? new LayerwiseEdgeWork(pairs, EdgeEstimate.EAP_IG, 3, false)
                        : new EdgeWork(pairs, EdgeEstimate.EAP_IG, 3, false));
    }

    /** The largest estimate and the largest difference over the comparisons made. */
    private static final class Gap {
        private double largest;
        private double worst;
        private String where = "";

        void add(String what, EdgeEstimates plain, EdgeEstimates other) {
            for (Map.Entry<EdgeGraph.Group, double[][]> e : plain.estimates().entrySet()) {
                double[][] theirs = other.estimates().get(e.getKey());
                assertEquals(e.getValue().length, theirs.length);
                for (int r = 0; r < e.getValue().length; r++) {
                    assertEquals(e.getValue()[r].length, theirs[r].length, what + " " + e.getKey());
                    for (int i = 0; i < e.getValue()[r].length; i++) {
                        largest = Math.max(largest, Math.abs(e.getValue()[r][i]));
                        double gap = Math.abs(e.getValue()[r][i] - theirs[r][i]);
                        if (gap > worst) {
                            worst = gap;
                            where = what + " " + e.getKey() + " [" + r + "][" + i + "]";
                        }
                    }
                }
            }
        }

        void assertRoundOff(String name) {
            assertTrue(largest > 1e-3, "the test needs edges that matter: " + largest);
            assertTrue(worst <= 1e-10 * largest, name + ": " + worst + " of " + largest + " at " + where);
        }
    }
}
