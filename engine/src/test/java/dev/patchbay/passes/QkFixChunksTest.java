package dev.patchbay.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Scalars;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.PromptPair;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The QK fix made a chunk of query rows at a time against the same tables made whole (the form QkFixTest checks
 * against brute-force softmax recomputation): query, per-key and all-keys estimates, with the tables kept and made at
 * each read, for chunks of 1, 2 and 3 rows (so chunk boundaries fall everywhere, inside sliding windows too), on every
 * family's every layer in float64, for two rows of a batch, and with the scores multiplied by 40 so that rows saturate
 * (a probability of exactly 1: the dominant-key branch). The pattern gradient is random: the estimates are linear in
 * it, and their equality must not depend on it. Tolerance 1e-12 of the largest estimate: the same per-row arithmetic,
 * with matrix products over fewer rows that libtorch may block differently.
 */
class QkFixChunksTest extends Float64Models {
    @ParameterizedTest
    @MethodSource("models")
    void chunksOfQueryRowsGiveTheWholeTablesEstimates(String name) {
        HookedTransformer model = model(name);
        ModelConfig c = model.config();
        PromptPair pair = ToyModels.pair(name);
        // Two rows: the pair, and the pair the other way round.
        TokenBatch clean = TokenBatch.of(pair.clean(), pair.noise());
        TokenBatch noise = TokenBatch.of(pair.noise(), pair.clean());
        int saturatedRows = 0;
        for (int layer = 0; layer < c.nLayers(); layer++) {
            String q = HookSites.attn(layer, c.rotaryDim() > 0 ? "rot_q" : "q");
            String k = HookSites.attn(layer, c.rotaryDim() > 0 ? "rot_k" : "k");
            String scores = HookSites.attn(layer, "attn_scores");
            ForwardResult cleanRun = model.forward(
                    manager, clean, Hooks.builder().cache(q, k, scores).build());
            ForwardResult noiseRun =
                    model.forward(manager, noise, Hooks.builder().cache(q, k).build());
            NDArray s = cleanRun.activation(scores);
            Shape shape = s.getShape();
            NDArray g = manager.randomNormal(shape, DataType.FLOAT64);
            for (double factor : new double[] {1, 40}) {
                NDArray scaled = factor == 1 ? s : Scalars.times(s, factor);
                saturatedRows += (int) scaled.softmax(-1)
                        .eq(1.0)
                        .sum()
                        .toType(DataType.FLOAT64, false)
                        .getDouble();
                List<NDArray> whole =
                        estimates(c, layer, scaled, cleanRun, noiseRun, q, k, g, false, (int) shape.get(2));
                for (boolean keep : new boolean[] {false, true}) {
                    for (int rows : new int[] {1, 2, 3}) {
                        List<NDArray> chunked = estimates(c, layer, scaled, cleanRun, noiseRun, q, k, g, keep, rows);
                        for (int i = 0; i < whole.size(); i++) {
                            double largest = whole.get(i).abs().max().getDouble();
                            double error =
                                    whole.get(i).sub(chunked.get(i)).abs().max().getDouble();
                            assertTrue(largest > 0, "estimates that are not all zero");
                            assertEquals(
                                    0,
                                    error / largest,
                                    1e-12,
                                    name + " layer " + layer + " estimate " + i + ", scores x" + factor + ", " + rows
                                            + " rows a chunk, tables kept: " + keep);
                        }
                    }
                }
            }
        }
        // Soft-capped scores (tiny-gemma2) cannot saturate.
        if (c.attnSoftcap() == 0) {
            assertTrue(saturatedRows > 0, "some rows must saturate");
        }
    }

    /** Query, per-key and all-keys estimates under {@code g}. */
    private static List<NDArray> estimates(
            ModelConfig c,
            int layer,
            NDArray scores,
            ForwardResult clean,
            ForwardResult noise,
            String q,
            String k,
            NDArray g,
            boolean keep,
            int rows) {
        QkFix fix = new QkFix(
                scores,
                clean.activation(q),
                noise.activation(q),
                clean.activation(k),
                noise.activation(k),
                c.attnScale(layer),
                c.attnSoftcap(),
                true,
                keep,
                rows);
        return List.of(fix.queries(g), fix.keys(g), fix.allKeys(g));
    }
}
