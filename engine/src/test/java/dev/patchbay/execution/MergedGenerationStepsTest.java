package dev.patchbay.execution;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.generation.Generation;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.Intervention;
import dev.patchbay.model.KvCache;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.passes.PassRunner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The decode steps of concurrent generations run as one batch on the device, each request's rows attending to its
 * own KV cache (of another length): every request must get what it gets alone, and the batches must be shared.
 * On a model with learned positions and on one with rotary, in float64.
 */
class MergedGenerationStepsTest {
    private static final List<List<int[]>> REQUESTS = List.of(
            List.of(new int[] {5, 17, 2, 44}),
            List.of(new int[] {8, 11, 2, 40, 19, 31, 5, 12, 9}, new int[] {3, 1, 4, 1, 5, 9, 2, 6, 5}),
            List.of(new int[] {7, 7, 30, 2, 1, 16}));

    @ParameterizedTest
    @ValueSource(strings = {"tiny-gpt2", "tiny-llama"})
    void concurrentGenerationsShareStepsAndEachGetsWhatItGetsAlone(String name) throws Exception {
        try (LoadedModel loaded = TestCheckpoints.load(name, DataType.FLOAT64);
                Device device = new Device(
                        name,
                        loaded.transformer(),
                        // A queue delay no step reaches: a step waits until every other open request has queued
                        // its next one (or closed), so the steps merge on hardware of any speed.
                        new SchedulerConfig(32, 8192, Duration.ofMinutes(10), 0))) {
            double[] v = new double[loaded.config().dModel()];
            Arrays.fill(v, 0.4);
            List<Generation.Steer> steers = List.of(new Generation.Steer(
                    new Intervention("blocks.1.hook_resid_pre", Intervention.Op.ADD, 0, null, null, v, 2),
                    Generation.Positions.GENERATED));
            Generation.Settings settings = Generation.Settings.greedy(6);
            List<List<Generation.Token>> alone = new ArrayList<>();
            for (List<int[]> prompts : REQUESTS) {
                List<Generation.Token> tokens = new ArrayList<>();
                Generation.run(PassRunner.direct(loaded.transformer()), prompts, steers, settings, tokens::add);
                alone.add(tokens);
            }
            ExecutorService threads = Executors.newFixedThreadPool(REQUESTS.size());
            List<Device.Job> jobs = new ArrayList<>();
            for (int r = 0; r < REQUESTS.size(); r++) {
                jobs.add(device.open("r" + r, () -> true));
            }
            try {
                CountDownLatch start = new CountDownLatch(1);
                List<Future<List<Generation.Token>>> together = new ArrayList<>();
                for (int r = 0; r < REQUESTS.size(); r++) {
                    List<int[]> prompts = REQUESTS.get(r);
                    Device.Job job = jobs.get(r);
                    together.add(threads.submit(() -> {
                        // A request leaves the queue as soon as it is done, so no step waits for it.
                        try (job) {
                            start.await();
                            List<Generation.Token> tokens = new ArrayList<>();
                            Generation.run(job.runner(), prompts, steers, settings, tokens::add);
                            return tokens;
                        }
                    }));
                }
                start.countDown();
                for (int r = 0; r < REQUESTS.size(); r++) {
                    List<Generation.Token> got = together.get(r).get();
                    assertEquals(alone.get(r).size(), got.size());
                    for (int i = 0; i < got.size(); i++) {
                        Generation.Token expected = alone.get(r).get(i);
                        assertEquals(expected.id(), got.get(i).id(), name + ", request " + r + ", token " + i);
                        double[] x = expected.logits();
                        double[] y = got.get(i).logits();
                        for (int t = 0; t < x.length; t++) {
                            assertEquals(x[t], y[t], 1e-9, name + ", request " + r + ", token " + i);
                        }
                    }
                }
            } finally {
                threads.shutdownNow();
                jobs.forEach(Device.Job::close);
            }
            // Six steps each: the five decode steps at least must have run with another request's.
            assertTrue(device.sharedBatches() >= 5, "shared batches: " + device.sharedBatches());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-gpt2"})
    void hooksOnAttentionPatternsAreRefusedAcrossCachesOfDifferentLengths(String name) {
        try (LoadedModel loaded = TestCheckpoints.load(name, DataType.FLOAT64);
                NDManager scope = loaded.transformer().compute().newScope();
                KvCache a = loaded.transformer().newKvCache(1);
                KvCache b = loaded.transformer().newKvCache(1)) {
            loaded.transformer()
                    .forwardCached(
                            scope,
                            List.of(a),
                            TokenBatch.of(new int[][] {{1, 2, 3}}),
                            Hooks.builder().build());
            Hooks pattern = Hooks.builder()
                    .intervene(new Intervention(
                            "blocks.0.attn.hook_pattern", Intervention.Op.ZERO, 0, null, null, null, 1))
                    .build();
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> loaded.transformer()
                            .forwardCached(scope, List.of(a, b), TokenBatch.of(new int[][] {{4}, {5}}), pattern));
            assertTrue(e.getMessage().contains("attn_scores or pattern"), e.getMessage());
            assertArrayEquals(new int[] {3, 0}, new int[] {a.length(), b.length()}, "a refused step caches nothing");
        }
    }
}
