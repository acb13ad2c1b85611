package dev.patchbay.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.Float64Models;
import dev.patchbay.TestCheckpoints;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The KV cache written in place: a prompt's first half cached, then its other tokens one step at a time, against
 * the whole sequence so far run without a cache (within the trained positions), on every family in float64 (1e-12 of the largest logit: the same
 * arithmetic, with matrix products over other shapes). Once with room for the whole prompt (its buffers never
 * move) and once sized by its first forward (each overflow moves the buffers to twice the room). Either way the
 * cache's scope ends holding its buffers alone: a step's views stay with the step (they kept every step's copy of
 * the cache alive before, so memory grew as the square of the new tokens).
 */
class KvCacheTest extends Float64Models {
    @ParameterizedTest
    @MethodSource("models")
    void stepsAfterTheCacheGiveTheUncachedForward(String name) {
        HookedTransformer model = model(name);
        // Within the trained positions: beyond them a dynamic-NTK rotary (tiny-qwen2's) rescales its frequencies with
        // the sequence's length, so keys cached at a shorter length differ from a whole forward's (in transformers
        // too), and generation stops there.
        int[] prompt = TestCheckpoints.golden(name).ids(2);
        prompt = Arrays.copyOf(prompt, Math.min(prompt.length, model.config().maxPositions()));
        int half = prompt.length / 2;
        int layers = model.config().nLayers();
        for (int room : new int[] {prompt.length, 1}) {
            try (KvCache cache = model.newKvCache(1, room)) {
                model.forwardCached(
                        manager,
                        List.of(cache),
                        TokenBatch.of(Arrays.copyOf(prompt, half)),
                        Hooks.builder().build());
                for (int t = half; t < prompt.length; t++) {
                    NDArray cached = model.forwardCached(
                                    manager,
                                    List.of(cache),
                                    TokenBatch.of(new int[] {prompt[t]}),
                                    Hooks.builder().build())
                            .logits()
                            .get(new NDIndex("0, 0"));
                    NDArray whole = model.forward(
                                    manager,
                                    TokenBatch.of(Arrays.copyOf(prompt, t + 1)),
                                    Hooks.builder().build())
                            .logits()
                            .get(new NDIndex("0, {}", t));
                    double largest = whole.abs().max().getDouble();
                    assertEquals(
                            0,
                            whole.sub(cached).abs().max().getDouble() / largest,
                            1e-12,
                            name + ", room " + room + ", position " + t);
                }
                assertEquals(prompt.length, cache.length(), name);
                assertEquals(2 * layers, cache.arraysHeld(), name + ": a step left arrays with the cache");
                if (room == prompt.length) {
                    assertEquals(prompt.length, cache.capacity(), name + ": the buffers moved");
                } else {
                    assertTrue(cache.capacity() >= prompt.length && cache.capacity() < 2 * prompt.length, name);
                }
            }
        }
    }
}
