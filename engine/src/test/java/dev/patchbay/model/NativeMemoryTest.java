package dev.patchbay.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.ResidentMemory;
import java.io.IOException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A long run must not grow native memory: every array a pass creates lives in the caller's scope (none may
 * land in the model's own manager), and closing the scope frees it.
 */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class NativeMemoryTest {
    @Test
    void hundredsOfHookedPassesKeepNativeMemoryFlat() throws IOException {
        try (LoadedModel loaded = TestCheckpoints.load("tiny-llama", DataType.FLOAT32)) {
            HookedTransformer model = loaded.transformer();
            int[][] prompts = new int[8][];
            for (int r = 0; r < prompts.length; r++) {
                prompts[r] = new int[48];
                for (int t = 0; t < 48; t++) {
                    prompts[r][t] = (r * 31 + t * 7) % 300;
                }
            }
            TokenBatch batch = TokenBatch.of(prompts);
            String site = HookSites.attn(1, "z");
            Runnable pass = () -> {
                try (NDManager scope = NDManager.newBaseManager("PyTorch")) {
                    ForwardResult clean = model.forwardWithGradients(
                            scope,
                            batch,
                            Hooks.builder().cacheAll().gradient(site).build(),
                            Metrics.logitDiff(batch, 3, 4));
                    clean.gradient(site);
                    model.forward(
                            scope,
                            batch,
                            Hooks.builder()
                                    .patch(
                                            site,
                                            Patch.of(2, clean.activation(site).get("0"), new int[] {5}, new int[] {1}))
                                    .build());
                }
            };
            int weightArrays = model.weightsManager().getManagedArrays().size();
            // The native allocator settles over the first ~100 passes (measured: resident memory rises about
            // 80 MiB, then wanders within +-30 MiB with no trend over 800 more passes).
            for (int i = 0; i < 100; i++) {
                pass.run();
            }
            // Resident memory is sampled every 25 passes; a leak raises its floor, the allocator's wander only
            // its peaks, so compare the lowest of the first four samples with the lowest of the last four.
            int passes = 300;
            long[] samples = new long[passes / 25];
            for (int i = 0; i < passes; i++) {
                pass.run();
                if (i % 25 == 24) {
                    samples[i / 25] = residentBytes();
                }
            }
            long first = Math.min(Math.min(samples[0], samples[1]), Math.min(samples[2], samples[3]));
            int n = samples.length;
            long last = Math.min(Math.min(samples[n - 1], samples[n - 2]), Math.min(samples[n - 3], samples[n - 4]));
            long growth = last - first;
            System.out.printf(
                    "native memory: %d hooked passes moved the resident floor by %.1f MiB%n",
                    passes, growth / 1048576.0);
            assertTrue(
                    model.weightsManager().getManagedArrays().size() == weightArrays,
                    "a pass left arrays in the model's manager");
            // One pass allocates about 8 MiB (all sites cached for 8 x 48 tokens), so keeping even one pass in
            // ten would add 240 MiB; 128 MiB is twice the allocator's wander.
            assertTrue(growth < 128L << 20, "resident memory grew by " + growth / 1048576 + " MiB");
        }
    }

    private static long residentBytes() {
        System.gc();
        return ResidentMemory.currentBytes();
    }
}
