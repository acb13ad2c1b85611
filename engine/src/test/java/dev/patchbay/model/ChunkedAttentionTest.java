package dev.patchbay.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import dev.patchbay.Float64Models;
import dev.patchbay.TestCheckpoints;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Attention made a chunk of query rows at a time against attention made whole: logits and every layer's output, for
 * chunks of 1, 2 and 3 rows (so chunk boundaries fall inside sliding windows, on the sliding-window families), on
 * every family in float64, two prompts of different lengths in one batch (padding), and a generation step of several
 * new tokens after a KV cache (its queries follow the cache's keys). Tolerance 1e-12 of the largest value: the same
 * per-row arithmetic, with matrix products over fewer rows that libtorch may block differently.
 */
class ChunkedAttentionTest extends Float64Models {
    @ParameterizedTest
    @MethodSource("models")
    void chunksOfQueryRowsGiveTheWholeForward(String name) {
        HookedTransformer model = model(name);
        int[] prompt = TestCheckpoints.golden(name).ids(2);
        int[] shorter = Arrays.copyOf(prompt, prompt.length - 3);
        TokenBatch batch = TokenBatch.of(prompt, shorter);
        List<String> outputs = new ArrayList<>();
        for (int l = 0; l < model.config().nLayers(); l++) {
            outputs.add(HookSites.residPost(l));
        }
        ForwardResult whole =
                model.forward(manager, batch, Hooks.builder().cache(outputs).build());
        for (int rows : new int[] {1, 2, 3}) {
            ForwardResult chunked = model.forward(
                    manager,
                    batch,
                    Hooks.builder().cache(outputs).attentionChunkRows(rows).build());
            assertClose(whole.logits(), chunked.logits(), name + ", logits, " + rows + " rows a chunk");
            for (String site : outputs) {
                assertClose(whole.activation(site), chunked.activation(site), name + ", " + site + ", " + rows);
            }
        }

        // A step of several new tokens after a cache of the prompt's first half.
        int half = prompt.length / 2;
        int[] first = Arrays.copyOf(prompt, half);
        int[] rest = Arrays.copyOfRange(prompt, half, prompt.length);
        List<NDArray> steps = new ArrayList<>();
        for (int rows : new int[] {0, 2}) {
            try (KvCache cache = model.newKvCache(1)) {
                model.forwardCached(
                        manager,
                        List.of(cache),
                        TokenBatch.of(first),
                        Hooks.builder().build());
                steps.add(model.forwardCached(
                                manager,
                                List.of(cache),
                                TokenBatch.of(rest),
                                Hooks.builder().attentionChunkRows(rows).build())
                        .logits());
            }
        }
        assertClose(steps.get(0), steps.get(1), name + ", a cached step of " + rest.length + " tokens");
    }

    private static void assertClose(NDArray expected, NDArray actual, String what) {
        assertEquals(expected.getShape(), actual.getShape(), what);
        double largest = expected.abs().max().getDouble();
        assertTrue(largest > 0, what);
        assertEquals(0, expected.sub(actual).abs().max().getDouble() / largest, 1e-12, what);
    }
}
