package dev.patchbay.operations;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.NativePeak;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.attribution.CausalScrubbing;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.ResidentMemory;
import dev.patchbay.generation.Generation;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.PassRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each operation that runs patched forwards is admitted on its own plan (rows per batch sized to the memory budget)
 * and must stay within it: circuit evaluation's prune curve (its edge ranking included), feature attribution (AtP*
 * over two dictionaries, verification and feature edges), causal scrubbing and generation with a patch from the mean
 * of source prompts, at two prompt lengths on the tiny Llama given 4,096
 * positions, with a 256 MB budget. Measured as native memory: the peak resident memory above the start, less what the
 * JVM's heap grew by; the margin is the native allocator's wander (NativeMemoryTest: tens of MB).
 */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class OperationMemoryTest {
    private static final long BUDGET = 256L << 20;
    private static final long MARGIN = 96L << 20;

    @Test
    void circuitsScrubbingAndPatchedGenerationStayWithinTheBudget(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(ResidentMemory.supported(), "needs Linux's /proc/self");
        try (LoadedModel loaded = LoadedModel.load(TestCheckpoints.longTinyLlama(dir), DataType.FLOAT32)) {
            Serving on = new Serving(
                    loaded.transformer(),
                    new Budget(loaded.transformer().config(), Float.BYTES, BUDGET),
                    RequestLimits.unlimited(8));
            PassRunner runner = PassRunner.direct(loaded.transformer());
            // Two of the test dictionaries, one writing before the other reads: feature AtP and feature edges.
            for (String name : List.of("mlp-jumprelu-transcoder", "resid-topk")) {
                loaded.addDictionary(name, TestCheckpoints.dictionaryDir("tiny-llama", name), null);
            }
            for (int length : new int[] {256, 1024}) {
                List<PromptPair> pairs = pairs(4, length);
                measure(
                        "EAP ranking alone",
                        length,
                        () -> EdgeAttribution.run(
                                runner,
                                pairs,
                                new EdgeRanking(EdgeAttribution.Method.EAP, 0)
                                        .settings(on, pairs, Checks.patchRows(on, pairs)),
                                EdgeAttribution.Listener.NONE));
                measure("circuit prune curve", length, () -> {
                    EvaluateCircuit.Plan plan = EvaluateCircuit.plan(
                            new EvaluateCircuit.Request(
                                    pairs,
                                    null,
                                    0,
                                    List.of(),
                                    new EdgeRanking(EdgeAttribution.Method.EAP, 0),
                                    new int[] {0, 8, 64}),
                            on);
                    EvaluateCircuit.run(runner, plan, new EvaluateCircuit.Events() {
                        @Override
                        public void accepted(Accepted accepted) {}

                        @Override
                        public void point(EvaluateCircuit.Point point) {}

                        @Override
                        public void progress(long done, long total) {}

                        @Override
                        public void summary(Summary summary) {}
                    });
                });
                measure("feature AtP*, verified, with feature edges", length, () -> {
                    AttributeFeatures.Plan plan = AttributeFeatures.plan(
                            new AttributeFeatures.Request(pairs, List.of(), "atp-star", 8, null, 0, 4, 4),
                            on,
                            loaded.dictionaries());
                    AttributeFeatures.run(runner, plan, new AttributeFeatures.Events() {
                        @Override
                        public void accepted(Accepted accepted) {}

                        @Override
                        public void block(AttributeFeatures.Block block) {}

                        @Override
                        public void progress(String stage, long done, long total) {}

                        @Override
                        public void verified(AttributeFeatures.Verified verified) {}

                        @Override
                        public void diagnostic(AttributeFeatures.Diagnostic diagnostic) {}

                        @Override
                        public void summary(Summary summary) {}
                    });
                });
                measure("causal scrubbing", length, () -> {
                    Scrub.Plan plan = Scrub.plan(
                            new Scrub.Request(
                                    pairs,
                                    List.of(new CausalScrubbing.Claim("L1H1", List.of("a", "b", "a", "b"))),
                                    8,
                                    0),
                            on);
                    Scrub.run(runner, plan, new Scrub.Events() {
                        @Override
                        public void accepted(Accepted accepted) {}

                        @Override
                        public void sample(CausalScrubbing.Sample sample) {}

                        @Override
                        public void progress(long done, long total) {}

                        @Override
                        public void result(CausalScrubbing.Result result) {}

                        @Override
                        public void summary(Summary summary) {}
                    });
                });
                measure("generation patched from a mean", length, () -> {
                    List<int[]> prompts =
                            List.of(pairs.get(0).clean(), pairs.get(1).clean());
                    List<int[]> sources = new ArrayList<>();
                    pairs.forEach(p -> sources.add(p.noise()));
                    Generate.Plan plan = Generate.plan(
                            new Generate.Request(
                                    prompts,
                                    List.of(),
                                    List.of(new Generation.PatchFrom(
                                            "blocks.0.hook_resid_pre", sources, Ablation.MEAN, null, 0)),
                                    4,
                                    null,
                                    true,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    null),
                            on);
                    Generate.run(runner, plan, new Generate.Events() {
                        @Override
                        public void accepted(Accepted accepted) {}

                        @Override
                        public void token(Generate.Token token) {}

                        @Override
                        public void continuation(Generate.Continuation continuation) {}

                        @Override
                        public void summary(Summary summary) {}
                    });
                });
            }
        }
    }

    private static void measure(String what, int length, Runnable operation) {
        long growth = NativePeak.during(operation);
        System.out.printf(
                "operation memory: %s, %d tokens: %.0f MB native above the start (budget %.0f MB)%n",
                what, length, growth / 1e6, BUDGET / 1e6);
        assertTrue(
                growth <= BUDGET + MARGIN,
                what + " at " + length + " tokens grew native memory by " + growth / 1e6 + " MB");
    }

    private static List<PromptPair> pairs(int n, int length) {
        Random random = new Random(length);
        List<PromptPair> pairs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            pairs.add(new PromptPair(
                    random.ints(length, 3, 300).toArray(),
                    random.ints(length, 3, 300).toArray(),
                    Metric.logitDiff(new int[] {5}, new int[] {6})));
        }
        return pairs;
    }
}
