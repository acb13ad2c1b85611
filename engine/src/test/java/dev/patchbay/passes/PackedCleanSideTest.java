package dev.patchbay.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.ToyModels;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A batch's clean sides packed for the cache (one flat array per element type and pair) and unpacked into a later
 * batch must give that batch exactly the estimates the live clean pass gave: the same numbers, moved, not recomputed.
 */
class PackedCleanSideTest {
    @ParameterizedTest
    @CsvSource({"FLOAT64, ATP", "FLOAT64, ATP_QK_FIX", "FLOAT32, ATP_QK_FIX", "FLOAT16, ATP"})
    void unpackedCleanSidesGiveTheEstimatesOfTheLivePass(DataType type, GradientVariant variant) {
        try (LoadedModel loaded = TestCheckpoints.load("tiny-gpt2", type);
                NDManager cache = NDManager.newBaseManager("PyTorch")) {
            PromptPair a = ToyModels.pair("tiny-gpt2");
            PromptPair b = new PromptPair(a.noise(), a.clean(), Metric.logitDiff(new int[] {7}, new int[] {3}));
            PromptPair c = new PromptPair(a.clean(), a.noise(), Metric.logitDiff(new int[] {40}, new int[] {11}));
            GradientWork work = new GradientWork(List.of(a, b, c), NodeSet.attentionAndNeurons(), variant);
            List<PackedCleanSide> packed = new ArrayList<>();
            GradientEstimates live = GradientEstimator.run(
                    loaded.transformer(),
                    work,
                    null,
                    sides -> sides.forEach(s -> {
                        s.parts().forEach(p -> p.attach(cache));
                        packed.add(s);
                    }));
            assertEquals(3, packed.size());
            for (PackedCleanSide side : packed) {
                assertEquals(side.layout(), packed.get(0).layout(), "one batch, one layout");
                assertEquals(side.layout().types().size(), side.parts().size());
                assertTrue(side.bytes() > 0);
            }
            // In another order, so that each pair's own side must come back to it.
            List<PackedCleanSide> reordered = List.of(packed.get(2), packed.get(0), packed.get(1));
            GradientWork again = new GradientWork(
                    List.of(
                            work.pairs().get(2),
                            work.pairs().get(0),
                            work.pairs().get(1)),
                    work.nodes(),
                    variant);
            GradientEstimates served = GradientEstimator.run(loaded.transformer(), again, reordered, null);
            int[] from = {2, 0, 1};
            // The same clean arrays, moved; only the noise forward runs again. What may differ is round-off: the
            // unpacked arrays are strided views and the rows sit elsewhere in the batch, so sums may be taken in
            // another order (seen: 1e-15 in float64). Estimates are float32 below float64 models.
            double tolerance = type == DataType.FLOAT64 ? 1e-12 : 5e-7;
            for (BlockKey g : live.groups()) {
                for (int r = 0; r < 3; r++) {
                    double[] expected = live.estimates().get(g)[from[r]];
                    double[] got = served.estimates().get(g)[r];
                    for (int i = 0; i < expected.length; i++) {
                        assertEquals(
                                expected[i],
                                got[i],
                                tolerance * (1 + Math.abs(expected[i])),
                                g + " pair " + r + " node " + i);
                    }
                }
            }
            assertEquals(live.cleanMetrics()[2], served.cleanMetrics()[0], 0.0);
        }
    }
}
