package dev.patchbay.generation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.Intervention;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Properties of generation that need no oracle beyond the model itself, on tiny-gpt2 in float32. */
class GenerationPropertiesTest {
    private static final int[] SHORT = {5, 17, 2, 44};
    private static final int[] LONG = {8, 11, 2, 40, 19, 31, 5, 12, 9};
    private static LoadedModel model;
    private static PassRunner runner;

    @BeforeAll
    static void load() {
        model = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        runner = PassRunner.direct(model.transformer());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static List<Generation.Token> tokens(
            List<int[]> prompts, List<Generation.Steer> steers, Generation.Settings s) {
        List<Generation.Token> out = new ArrayList<>();
        Generation.run(runner, prompts, steers, s, out::add);
        return out;
    }

    private static Generation.Steer add(double coefficient) {
        double[] v = new double[model.config().dModel()];
        Arrays.fill(v, 0.3);
        return new Generation.Steer(
                new Intervention("blocks.1.hook_resid_pre", Intervention.Op.ADD, 0, null, null, v, coefficient),
                Generation.Positions.ALL);
    }

    @Test
    void anInterventionOfCoefficientZeroChangesNothingBitForBit() {
        Generation.Settings greedy = Generation.Settings.greedy(5);
        List<Generation.Token> plain = tokens(List.of(SHORT, LONG), List.of(), greedy);
        List<Generation.Token> zero = tokens(List.of(SHORT, LONG), List.of(add(0)), greedy);
        Generation.Steer scaleOne = new Generation.Steer(
                new Intervention("blocks.0.attn.hook_z", Intervention.Op.SCALE, 0, null, new int[] {1}, null, 1),
                Generation.Positions.ALL);
        List<Generation.Token> one = tokens(List.of(SHORT, LONG), List.of(scaleOne), greedy);
        for (int i = 0; i < plain.size(); i++) {
            assertArrayEquals(plain.get(i).logits(), zero.get(i).logits(), "add x 0, token " + i);
            assertArrayEquals(plain.get(i).logits(), one.get(i).logits(), "scale x 1, token " + i);
        }
        List<Generation.Token> steered = tokens(List.of(SHORT, LONG), List.of(add(3)), greedy);
        assertFalse(Arrays.equals(plain.get(0).logits(), steered.get(0).logits()), "a real intervention changes them");
    }

    /**
     * Every family: a cached generation equals a full recompute at every step (float64, 1e-9), interventions at given
     * prompt positions and at generated ones included (the cache must carry what they made of earlier positions).
     */
    @ParameterizedTest
    @MethodSource("dev.patchbay.TestCheckpoints#all")
    void aCachedGenerationEqualsAFullRecomputeAtEveryStep(String name) {
        try (LoadedModel m = TestCheckpoints.load(name, DataType.FLOAT64)) {
            PassRunner direct = PassRunner.direct(m.transformer());
            double[] v = new double[m.config().dModel()];
            Arrays.fill(v, 0.2);
            List<Generation.Steer> steers = List.of(
                    new Generation.Steer(
                            new Intervention(
                                    "blocks.0.hook_resid_pre", Intervention.Op.ADD, 0, new int[] {1, 5}, null, v, 3),
                            Generation.Positions.GIVEN),
                    new Generation.Steer(
                            new Intervention(
                                    "blocks.0.attn.hook_z", Intervention.Op.ZERO, 0, null, new int[] {0}, null, 1),
                            Generation.Positions.GENERATED));
            // tiny-qwen2 scales its rotary frequencies with the sequence's length beyond its 8 trained positions
            // (dynamic
            // NTK): there a cached step rotates only its new keys at the new frequencies, as transformers' cached
            // generate does, and a recompute rotates them all. Within 8 positions the two agree.
            boolean dynamic = name.equals("tiny-qwen2");
            List<int[]> prompts =
                    dynamic ? List.of(SHORT, new int[] {3, 1, 4, 1}) : List.of(SHORT, LONG, new int[] {3, 1, 4, 1});
            List<Generation.Token> cached = new ArrayList<>();
            List<Generation.Token> whole = new ArrayList<>();
            Generation.Settings settings = Generation.Settings.greedy(dynamic ? 4 : 8);
            List<int[]> a = Generation.run(direct, prompts, steers, settings, cached::add);
            List<int[]> b = Generation.run(direct, prompts, steers, settings.withCache(false), whole::add);
            for (int p = 0; p < prompts.size(); p++) {
                assertArrayEquals(b.get(p), a.get(p), name + ", prompt " + p);
            }
            cached.sort(java.util.Comparator.comparingInt(Generation.Token::prompt)
                    .thenComparingInt(Generation.Token::step));
            whole.sort(java.util.Comparator.comparingInt(Generation.Token::prompt)
                    .thenComparingInt(Generation.Token::step));
            for (int i = 0; i < cached.size(); i++) {
                double[] x = cached.get(i).logits();
                double[] y = whole.get(i).logits();
                for (int t = 0; t < x.length; t++) {
                    assertTrue(Math.abs(x[t] - y[t]) <= 1e-9, name + ", token " + i + ": " + Math.abs(x[t] - y[t]));
                }
            }
        }
    }

    /**
     * Patching the stream entering layer 0 from another prompt of the same length, at every prompt position, is
     * generating from that prompt (generated positions are never patched); patching a head from the prompt itself
     * changes nothing. With and without the cache.
     */
    @Test
    void patchingFromASourcePromptDuringGeneration() {
        int[] other = {9, 3, 30, 12};
        for (boolean cached : new boolean[] {true, false}) {
            Generation.Settings greedy = Generation.Settings.greedy(6).withCache(cached);
            int[] fromOther = Generation.run(
                            runner,
                            List.of(SHORT),
                            List.of(),
                            List.of(new Generation.PatchFrom("blocks.0.hook_resid_pre", other, null)),
                            greedy,
                            t -> {})
                    .get(0);
            assertArrayEquals(
                    Generation.run(runner, List.of(other), List.of(), greedy, t -> {})
                            .get(0),
                    fromOther,
                    "" + cached);
            int[] fromItself = Generation.run(
                            runner,
                            List.of(SHORT),
                            List.of(),
                            List.of(new Generation.PatchFrom("blocks.1.attn.hook_z", SHORT, new int[] {0, 2})),
                            greedy,
                            t -> {})
                    .get(0);
            assertArrayEquals(
                    Generation.run(runner, List.of(SHORT), List.of(), greedy, t -> {})
                            .get(0),
                    fromItself,
                    "" + cached);
        }
        // Mean ablation over two sources at the stream entering layer 0: the mean of their embeddings, which a SET of
        // that mean reproduces; resample draws each prompt's own source.
        int[] third = {4, 4, 21, 7};
        Generation.Settings greedy = Generation.Settings.greedy(5);
        int[] mean = Generation.run(
                        runner,
                        List.of(SHORT),
                        List.of(),
                        List.of(new Generation.PatchFrom(
                                "blocks.0.hook_resid_pre", List.of(other, third), Ablation.MEAN, null, 0)),
                        greedy,
                        t -> {})
                .get(0);
        int[] same = Generation.run(
                        runner,
                        List.of(SHORT),
                        List.of(),
                        List.of(new Generation.PatchFrom(
                                "blocks.0.hook_resid_pre", List.of(other, other), Ablation.MEAN, null, 0)),
                        greedy,
                        t -> {})
                .get(0);
        assertArrayEquals(
                Generation.run(runner, List.of(other), List.of(), greedy, t -> {})
                        .get(0),
                same);
        List<Generation.Steer> setToMean = new ArrayList<>();
        try (ai.djl.ndarray.NDManager scope = ai.djl.ndarray.NDManager.newBaseManager("PyTorch")) {
            double[] a = embedding(scope, other);
            double[] b = embedding(scope, third);
            int d = model.config().dModel();
            for (int t = 0; t < other.length; t++) {
                double[] v = new double[d];
                for (int i = 0; i < d; i++) {
                    v[i] = (a[t * d + i] + b[t * d + i]) / 2;
                }
                setToMean.add(new Generation.Steer(
                        new Intervention("blocks.0.hook_resid_pre", Intervention.Op.SET, 0, new int[] {t}, null, v, 1),
                        Generation.Positions.GIVEN));
            }
        }
        assertArrayEquals(
                Generation.run(runner, List.of(SHORT), setToMean, greedy, t -> {})
                        .get(0),
                mean);
        List<int[]> resampled = Generation.run(
                runner,
                List.of(SHORT, new int[] {1, 2, 3, 4}),
                List.of(),
                List.of(new Generation.PatchFrom(
                        "blocks.0.hook_resid_pre", List.of(other, third), Ablation.RESAMPLE, null, 11)),
                greedy,
                t -> {});
        java.util.Random draw = new java.util.Random(11);
        for (int p = 0; p < 2; p++) {
            int[] drawn = draw.nextInt(2) == 0 ? other : third;
            assertArrayEquals(
                    Generation.run(runner, List.of(drawn), List.of(), greedy, t -> {})
                            .get(0),
                    resampled.get(p));
        }
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> Generation.run(
                        runner,
                        List.of(SHORT),
                        List.of(),
                        List.of(new Generation.PatchFrom("blocks.0.hook_resid_pre", LONG, null)),
                        Generation.Settings.greedy(2),
                        t -> {}));
        assertTrue(e.getMessage().contains("longer than the shortest prompt"), e.getMessage());
    }

    /** The stream entering layer 0 of a prompt, [T * d_model], from a plain forward. */
    private static double[] embedding(ai.djl.ndarray.NDManager scope, int[] tokens) {
        return model.transformer()
                .forward(
                        scope,
                        dev.patchbay.model.TokenBatch.of(tokens),
                        dev.patchbay.model.Hooks.builder()
                                .cache("blocks.0.hook_resid_pre")
                                .build())
                .activations()
                .get("blocks.0.hook_resid_pre")
                .toType(DataType.FLOAT64, false)
                .toDoubleArray();
    }

    @Test
    void aBatchedGenerationEqualsEachPromptAlone() {
        Generation.Settings greedy = Generation.Settings.greedy(6);
        List<int[]> both = Generation.run(runner, List.of(SHORT, LONG), List.of(add(1)), greedy, t -> {});
        assertArrayEquals(
                Generation.run(runner, List.of(SHORT), List.of(add(1)), greedy, t -> {})
                        .get(0),
                both.get(0));
        assertArrayEquals(
                Generation.run(runner, List.of(LONG), List.of(add(1)), greedy, t -> {})
                        .get(0),
                both.get(1));
    }

    /** An intervention on the attention pattern runs each length's cache on its own, and equals each alone. */
    @Test
    void anInterventionOnThePatternWithPromptsOfTwoLengthsEqualsEachAlone() {
        Generation.Settings greedy = Generation.Settings.greedy(4);
        List<Generation.Steer> zeroPattern = List.of(new Generation.Steer(
                new Intervention(
                        "blocks.1.attn.hook_pattern", Intervention.Op.SCALE, 0, null, new int[] {0}, null, 0.5),
                Generation.Positions.ALL));
        List<Generation.Token> both = tokens(List.of(SHORT, LONG), zeroPattern, greedy);
        List<Generation.Token> shortAlone = tokens(List.of(SHORT), zeroPattern, greedy);
        List<Generation.Token> longAlone = tokens(List.of(LONG), zeroPattern, greedy);
        for (Generation.Token t : both) {
            Generation.Token alone = (t.prompt() == 0 ? shortAlone : longAlone).get(t.step());
            assertEquals(alone.id(), t.id());
            for (int v = 0; v < t.logits().length; v++) {
                assertEquals(alone.logits()[v], t.logits()[v], 1e-4, "prompt " + t.prompt() + ", step " + t.step());
            }
        }
    }

    @Test
    void aSeededSampleIsReproducibleAcrossRunsAndBatchSizes() {
        Generation.Settings sampled = new Generation.Settings(8, new int[0], 1.3, 50, 0.95, 42);
        List<int[]> first = Generation.run(runner, List.of(SHORT, LONG), List.of(), sampled, t -> {});
        List<int[]> again = Generation.run(runner, List.of(SHORT, LONG), List.of(), sampled, t -> {});
        assertArrayEquals(first.get(0), again.get(0));
        assertArrayEquals(first.get(1), again.get(1));
        assertArrayEquals(
                first.get(0),
                Generation.run(runner, List.of(SHORT), List.of(), sampled, t -> {})
                        .get(0));
        List<int[]> otherSeed = Generation.run(
                runner,
                List.of(SHORT, LONG),
                List.of(),
                new Generation.Settings(8, new int[0], 1.3, 50, 0.95, 43),
                t -> {});
        assertFalse(Arrays.equals(first.get(0), otherSeed.get(0)) && Arrays.equals(first.get(1), otherSeed.get(1)));
        // top_k = 1 is greedy whatever the temperature.
        assertArrayEquals(
                Generation.run(runner, List.of(LONG), List.of(), Generation.Settings.greedy(8), t -> {})
                        .get(0),
                Generation.run(
                                runner,
                                List.of(LONG),
                                List.of(),
                                new Generation.Settings(8, new int[0], 2, 1, 0, 7),
                                t -> {})
                        .get(0));
    }

    @Test
    void aStopTokenEndsOnlyItsPrompt() {
        int[] free = Generation.run(runner, List.of(SHORT), List.of(), Generation.Settings.greedy(6), t -> {})
                .get(0);
        int stop = free[2];
        int firstStop = 0;
        while (free[firstStop] != stop) {
            firstStop++;
        }
        List<int[]> stopped = Generation.run(
                runner,
                List.of(SHORT, LONG),
                List.of(),
                new Generation.Settings(6, new int[] {stop}, 0, 0, 0, 0),
                t -> {});
        assertArrayEquals(Arrays.copyOf(free, firstStop + 1), stopped.get(0));
        // The other prompt goes on as it would alone, up to its own first stop token, if any.
        int[] other = Generation.run(runner, List.of(LONG), List.of(), Generation.Settings.greedy(6), t -> {})
                .get(0);
        int end = 0;
        while (end < other.length && other[end] != stop) {
            end++;
        }
        assertArrayEquals(Arrays.copyOf(other, Math.min(other.length, end + 1)), stopped.get(1));
    }

    @Test
    void badSettingsAndValuesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Generation.Settings(0, new int[0], 0, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Generation.Settings(4, new int[0], -1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Generation.Settings(4, new int[0], 1, 0, 1.5, 0));
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> Generation.run(
                        runner,
                        List.of(SHORT),
                        List.of(new Generation.Steer(
                                new Intervention(
                                        "blocks.0.hook_resid_pre",
                                        Intervention.Op.SET,
                                        0,
                                        null,
                                        null,
                                        new double[3],
                                        1),
                                Generation.Positions.ALL)),
                        Generation.Settings.greedy(2),
                        t -> {}));
        assertTrue(e.getMessage().contains("a value of 3 numbers"), e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> Generation.run(
                        runner,
                        List.of(SHORT),
                        List.of(new Generation.Steer(
                                new Intervention(
                                        "blocks.9.hook_resid_pre", Intervention.Op.ZERO, 0, null, null, null, 1),
                                Generation.Positions.ALL)),
                        Generation.Settings.greedy(2),
                        t -> {}));
        assertTrue(e.getMessage().contains("blocks.9.hook_resid_pre"), e.getMessage());
    }
}
