package dev.patchbay.generation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.passes.PassRunner;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Contrastive steering vectors against the activations read directly from a cached forward (float64). */
class SteeringVectorTest {
    private static final String SITE = "blocks.1.hook_resid_pre";
    private static final List<SteeringVector.Contrast> PAIRS = List.of(
            new SteeringVector.Contrast(new int[] {5, 17, 2, 44}, new int[] {8, 11, 3}),
            new SteeringVector.Contrast(new int[] {9, 31, 7}, new int[] {1, 2, 3, 4, 5}));

    @Test
    void theVectorIsTheMeanDifferenceOfTheSitesActivations() {
        try (LoadedModel m = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT64);
                NDManager scope = NDManager.newBaseManager("PyTorch")) {
            PassRunner runner = PassRunner.direct(m.transformer());
            for (SteeringVector.Reading reading : SteeringVector.Reading.values()) {
                double[] v = SteeringVector.contrastive(runner, SITE, PAIRS, reading);
                double[] expected = new double[v.length];
                for (SteeringVector.Contrast c : PAIRS) {
                    double[] pos = read(m, scope, c.positive(), reading);
                    double[] neg = read(m, scope, c.negative(), reading);
                    for (int i = 0; i < v.length; i++) {
                        expected[i] += (pos[i] - neg[i]) / PAIRS.size();
                    }
                }
                for (int i = 0; i < v.length; i++) {
                    assertEquals(expected[i], v[i], 1e-12, reading + " [" + i + "]");
                }
            }
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> SteeringVector.contrastive(
                            runner, "blocks.0.attn.hook_z", PAIRS, SteeringVector.Reading.LAST_TOKEN));
            assertTrue(e.getMessage().startsWith("site: a steering vector is read at a residual"), e.getMessage());
        }
    }

    /** The site's activation by a plain forward that caches every site: the last token's, or the positions' mean. */
    private static double[] read(LoadedModel m, NDManager scope, int[] tokens, SteeringVector.Reading reading) {
        NDArray x = m.transformer()
                .forward(
                        scope, TokenBatch.of(tokens), Hooks.builder().cacheAll().build())
                .activations()
                .get(SITE)
                .toType(DataType.FLOAT64, false);
        double[] flat = x.toDoubleArray();
        int d = (int) x.getShape().get(2);
        double[] out = new double[d];
        for (int t = 0; t < tokens.length; t++) {
            if (reading == SteeringVector.Reading.LAST_TOKEN && t != tokens.length - 1) {
                continue;
            }
            for (int i = 0; i < d; i++) {
                out[i] += flat[t * d + i] / (reading == SteeringVector.Reading.LAST_TOKEN ? 1 : tokens.length);
            }
        }
        return out;
    }
}
