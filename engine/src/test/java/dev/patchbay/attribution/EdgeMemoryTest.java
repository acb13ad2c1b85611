package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.NativePeak;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.NativeMemory;
import dev.patchbay.execution.ResidentMemory;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.EdgeEstimate;
import dev.patchbay.passes.PassRunner;
import java.io.IOException;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The server admits an edge request on its method's own memory model ({@link Budget#edgeRowBytes}): each estimate's
 * measured peak above the model stays below it at two prompt lengths, one pair, on the tiny Llama (4 heads, so
 * the QK fix's heads x T x T tables dominate at these lengths). AtP* used to be estimated with its QK-fix tables
 * bounded by a 64 MB chunk; one writer's tables alone grow past that (a server admitted 2 pairs of 1,024 tokens
 * and grew by 8 GB). Peaks are native memory (resident, less the heap's growth), so an edge method that kept what it
 * should free fails here. The same with per-layer recomputation ({@link Budget#layerwiseEdgeRowBytes}).
 */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class EdgeMemoryTest {
    @Test
    void everyEdgeEstimateStaysWithinItsMemoryModel() throws IOException {
        Assumptions.assumeTrue(ResidentMemory.supported(), "needs Linux's /proc/self");
        try (LoadedModel loaded = TestCheckpoints.load("tiny-llama", DataType.FLOAT32)) {
            HookedTransformer model = loaded.transformer();
            Budget budget = new Budget(model.config(), Float.BYTES, 1);
            // Libtorch's pools and the first allocations of every op, out of the measured peaks.
            run(model, EdgeAttribution.Method.ATP_STAR, 64, true, false);
            run(model, EdgeAttribution.Method.ATP_STAR, 64, true, true);
            for (EdgeAttribution.Method method : List.of(
                    EdgeAttribution.Method.EAP, EdgeAttribution.Method.EAP_IG, EdgeAttribution.Method.ATP_STAR)) {
                for (int length : new int[] {256, 512}) {
                    for (boolean recomputed : new boolean[] {false, true}) {
                        long peak = NativePeak.during(() -> run(model, method, length, true, recomputed));
                        long estimate = recomputed
                                ? budget.layerwiseEdgeRowBytes(length, method.estimate(), STEPS, true)
                                : budget.edgeRowBytes(length, method.estimate(), STEPS);
                        String what = method.id() + (recomputed ? " recomputed" : "");
                        System.out.printf(
                                "edge memory: %s, one pair of %d tokens per position: %.3f GB above the model,"
                                        + " estimated %.3f GB%n",
                                what, length, peak / 1e9, estimate / 1e9);
                        assertTrue(
                                peak <= estimate,
                                what + " at " + length + " tokens: measured " + peak + " bytes, estimated " + estimate);
                    }
                }
            }
        }
    }

    /**
     * Recomputed edge AtP* at a length where a whole float64 heads x T x T map is 134 MB: the QK fix goes by chunks of
     * query rows, so nothing of that size may stay (rows of the key changes had been kept until each writer was done:
     * 1.77 GB measured here then, 0.41 GB now).
     */
    @Test
    void recomputedEdgeAtPStarHoldsNoWholeMapAtLongPrompts() throws IOException {
        Assumptions.assumeTrue(ResidentMemory.supported(), "needs Linux's /proc/self");
        try (LoadedModel loaded = TestCheckpoints.load("tiny-llama", DataType.FLOAT32)) {
            HookedTransformer model = loaded.transformer();
            Budget budget = new Budget(model.config(), Float.BYTES, 1);
            int length = 2048;
            // Libtorch's first allocations at this length out of the measured peak, and what the allocator kept of
            // them given back, so that the run measured grows its own arenas.
            run(model, EdgeAttribution.Method.ATP_STAR, length, false, true);
            Assumptions.assumeTrue(NativeMemory.trims(), "needs glibc's malloc_trim");
            NativeMemory.trim();
            long peak = NativePeak.during(() -> run(model, EdgeAttribution.Method.ATP_STAR, length, false, true));
            long estimate = budget.layerwiseEdgeRowBytes(length, EdgeEstimate.ATP_STAR, STEPS, false);
            System.out.printf(
                    "edge memory: atp-star recomputed, one pair of %d tokens: %.3f GB above the model, estimated"
                            + " %.3f GB%n",
                    length, peak / 1e9, estimate / 1e9);
            assertTrue(peak <= estimate, "measured " + peak + " bytes, estimated " + estimate);
        }
    }

    private static final int STEPS = 5;

    private static void run(
            HookedTransformer model,
            EdgeAttribution.Method method,
            int length,
            boolean perPosition,
            boolean recomputed) {
        Random random = new Random(length);
        int vocab = model.config().vocabSize();
        PromptPair pair = new PromptPair(
                random.ints(length, 3, vocab).toArray(),
                random.ints(length, 3, vocab).toArray(),
                Metric.logitDiff(new int[] {5}, new int[] {6}));
        EdgeAttribution.run(
                PassRunner.direct(model),
                List.of(pair),
                new EdgeAttribution.Settings(method, perPosition, STEPS, 1, 64, recomputed),
                EdgeAttribution.Listener.NONE);
    }
}
