package dev.patchbay.passes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.Float64Models;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.ToyModels;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Per-layer recomputation against the plain gradient pass (itself checked against finite differences, exact patching
 * and, for AtP*, L separate backward passes elsewhere): every node kind, per position and over all positions, AtP,
 * AtP with the QK fix and AtP*, two pairs
 * of different lengths (so padding and per-row metric positions are exercised), on every family in float64. The
 * tolerance, 1e-10 of the largest estimate, is round-off: both passes multiply the same values, but the layers' graphs
 * are built again and libtorch may sum in another order.
 */
class LayerwiseGradientTest extends Float64Models {
    private static List<PromptPair> pairs(String name) {
        return ToyModels.pairsOfTwoLengths(name);
    }

    @ParameterizedTest
    @MethodSource("models")
    void perLayerRecomputationGivesThePlainPassesEstimates(String name) {
        HookedTransformer model = model(name);
        PassRunner runner = PassRunner.direct(model);
        List<PromptPair> pairs = pairs(name);
        Gap gap = new Gap();
        for (GradientVariant variant : GradientVariant.values()) {
            for (int form = 0; form < 3; form++) {
                boolean perPosition = form == 1;
                // AtP* with each layer's QK-fix tables kept for its variants' reads, as the plan may choose.
                boolean keepTables = form == 2;
                if ((variant.gradDrop() && perPosition) || (keepTables && !variant.gradDrop())) {
                    continue; // GradDrop per position: summedOverPairsAndOverSomeLayersToo, on one family (time)
                }
                // Per position needs one length: the first pair alone.
                List<PromptPair> batch = perPosition ? pairs.subList(0, 1) : pairs;
                NodeSet nodes = new NodeSet(EnumSet.allOf(NodeKind.class), null, perPosition, null);
                GradientEstimates plain = runner.run(new GradientWork(batch, nodes, variant));
                GradientEstimates layerwise =
                        runner.run(new LayerwiseGradientWork(batch, nodes, variant, List.of(), keepTables));
                assertEquals(plain.estimates().keySet(), layerwise.estimates().keySet(), "groups in the same order");
                assertEquals(
                        List.copyOf(plain.estimates().keySet()),
                        List.copyOf(layerwise.estimates().keySet()));
                assertArrayEquals(plain.cleanMetrics(), layerwise.cleanMetrics(), 1e-12);
                assertArrayEquals(plain.noiseMetrics(), layerwise.noiseMetrics(), 1e-12);
                assertArrayEquals(plain.positions(), layerwise.positions());
                gap.add(plain, layerwise);
            }
        }
        gap.assertRoundOff(name);
    }

    /**
     * The recomputed layer's attention made and differentiated in chunks of 1 and 3 query rows (a chunk boundary inside
     * the sliding window of 4 of Mistral and Gemma 2), with and without AtP*'s kept QK-fix tables, against the plain
     * pass: the pattern gradient the QK fix reads is z's gradient times the values, chunk by chunk, and the queries',
     * keys' and values' gradients add up over the chunks. Fails with a chunk's backward left out (checked).
     */
    @ParameterizedTest
    @MethodSource("models")
    void attentionInChunksOfFewRowsGivesThePlainPassesEstimates(String name) {
        HookedTransformer model = model(name);
        PassRunner runner = PassRunner.direct(model);
        List<PromptPair> pairs = pairs(name);
        NodeSet all = new NodeSet(EnumSet.allOf(NodeKind.class), null, false, null);
        Gap gap = new Gap();
        for (int rows : new int[] {1, 3}) {
            for (int form = 0; form < 3; form++) {
                // AtP* over both pairs (tables made per read, then kept); AtP with the QK fix per position, one pair.
                GradientVariant variant = form < 2 ? GradientVariant.ATP_STAR : GradientVariant.ATP_QK_FIX;
                List<PromptPair> batch = form < 2 ? pairs : pairs.subList(0, 1);
                NodeSet nodes = form < 2 ? all : all.withPerPosition(true);
                GradientEstimates plain = runner.run(new GradientWork(batch, nodes, variant));
                GradientEstimates chunked =
                        runner.run(new LayerwiseGradientWork(batch, nodes, variant, List.of(), form == 1, rows));
                assertEquals(
                        List.copyOf(plain.estimates().keySet()),
                        List.copyOf(chunked.estimates().keySet()));
                gap.add(plain, chunked);
            }
        }
        gap.assertRoundOff(name);
    }

    /** The largest estimate and the largest difference over the comparisons made. */
    private static final class Gap {
        private double largest;
        private double worst;

        void add(GradientEstimates plain, GradientEstimates other) {
            for (Map.Entry<BlockKey, double[][]> e : plain.estimates().entrySet()) {
                double[][] theirs = other.estimates().get(e.getKey());
                for (int r = 0; r < e.getValue().length; r++) {
                    for (int i = 0; i < e.getValue()[r].length; i++) {
                        largest = Math.max(largest, Math.abs(e.getValue()[r][i]));
                        worst = Math.max(worst, Math.abs(e.getValue()[r][i] - theirs[r][i]));
                    }
                }
            }
        }

        /** Round-off: within 1e-10 of the largest estimate, which must matter. */
        void assertRoundOff(String name) {
            assertTrue(largest > 1e-3, "the test needs estimates that matter: " + largest);
            assertEquals(0, worst, 1e-10 * largest, name + ": largest " + largest);
        }
    }

    /**
     * A distribution's sums of |estimate|, and a subset of layers (GradDrop's variants still go down through the layers
     * without nodes); AtP* per position.
     */
    @Test
    void summedOverPairsAndOverSomeLayersToo() {
        String name = TestCheckpoints.ALL.iterator().next();
        HookedTransformer model = model(name);
        PassRunner runner = PassRunner.direct(model);
        List<PromptPair> pairs = pairs(name);
        NodeSet nodes = new NodeSet(
                EnumSet.of(NodeKind.HEAD_OUTPUT, NodeKind.KEY, NodeKind.RESIDUAL), new int[] {0}, false, null);
        for (GradientVariant variant : List.of(GradientVariant.ATP_QK_FIX, GradientVariant.ATP_STAR)) {
            GradientEstimates plain = runner.run(GradientWork.summed(pairs, nodes, variant));
            GradientEstimates layerwise =
                    runner.run(new LayerwiseGradientWork(pairs, nodes, variant, List.of(pairs.size())));
            assertEquals(3, plain.estimates().size());
            plain.estimates().forEach((g, rows) -> {
                assertEquals(1, rows.length, "one sum");
                assertArrayEquals(rows[0], layerwise.estimates().get(g)[0], 1e-10, variant + " " + g);
            });
        }
        // AtP* per position, one pair.
        NodeSet perPosition = nodes.withPerPosition(true);
        List<PromptPair> one = pairs.subList(0, 1);
        GradientEstimates plain = runner.run(new GradientWork(one, perPosition, GradientVariant.ATP_STAR));
        GradientEstimates layerwise = runner.run(LayerwiseGradientWork.of(one, perPosition, GradientVariant.ATP_STAR));
        plain.estimates()
                .forEach((g, rows) ->
                        assertArrayEquals(rows[0], layerwise.estimates().get(g)[0], 1e-10));
    }
}
