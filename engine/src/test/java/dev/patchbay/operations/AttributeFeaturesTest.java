package dev.patchbay.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.attribution.FeaturePatching;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.checkpoint.SaeLensDictionary;
import dev.patchbay.features.Dictionaries;
import dev.patchbay.features.FeatureEstimates;
import dev.patchbay.features.FeatureNode;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.FeatureGradientWork;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The feature attribution use-case: what it streams and in what order, the means it ranks by, verification of the top
 * nodes by exact patching, the diagnostic over each dictionary's rest, and the refusals that name the field.
 */
class AttributeFeaturesTest {
    private static LoadedModel model;
    private static Dictionaries dictionaries;
    private static Serving on;

    @BeforeAll
    static void load() {
        model = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT64);
        dictionaries = new Dictionaries();
        for (String name : List.of("resid-relu", "z-jumprelu", "mlp-transcoder")) {
            dictionaries.add(SaeLensDictionary.load(
                    name,
                    TestCheckpoints.dictionaryDir("tiny-gpt2", name),
                    null,
                    model.config(),
                    model.transformer().hookSites(),
                    model.transformer().compute().newScope(),
                    DataType.FLOAT64));
        }
        on = new Serving(model.transformer(), new Budget(model.config(), 8, 1L << 30), RequestLimits.unlimited(8));
    }

    @AfterAll
    static void close() {
        dictionaries.close();
        model.close();
    }

    private static PromptPair pair(int seed, int length) {
        int[] clean = IntStream.range(0, length)
                .map(i -> 10 + (i * 37 + seed * 11) % 280)
                .toArray();
        int[] noise = IntStream.range(0, length)
                .map(i -> 10 + (i * 53 + seed * 29 + 7) % 280)
                .toArray();
        return new PromptPair(clean, noise, Metric.logitDiff(new int[] {5}, new int[] {7}));
    }

    /** Records every event in order. */
    private static final class Recorded implements AttributeFeatures.Events {
        final List<String> order = new ArrayList<>();
        final List<AttributeFeatures.Block> blocks = new ArrayList<>();
        final List<AttributeFeatures.Verified> verified = new ArrayList<>();
        final List<AttributeFeatures.Diagnostic> diagnostics = new ArrayList<>();
        Summary summary;

        @Override
        public void accepted(Accepted accepted) {
            order.add("accepted");
        }

        @Override
        public void block(AttributeFeatures.Block block) {
            order.add("block");
            blocks.add(block);
        }

        @Override
        public void progress(String stage, long done, long total) {}

        @Override
        public void verified(AttributeFeatures.Verified v) {
            order.add("verified");
            verified.add(v);
        }

        @Override
        public void diagnostic(AttributeFeatures.Diagnostic d) {
            order.add("diagnostic");
            diagnostics.add(d);
        }

        @Override
        public void summary(Summary s) {
            order.add("summary");
            summary = s;
        }
    }

    @Test
    void streamsBlocksThenVerifiesTheTopByMeanThenBoundsTheRest() {
        List<PromptPair> pairs = List.of(pair(1, 8), pair(2, 8), pair(3, 8));
        AttributeFeatures.Plan plan = AttributeFeatures.plan(
                new AttributeFeatures.Request(pairs, List.of(), "atp", 6, DiagnosticOptions.DEFAULTS),
                on,
                dictionaries);
        Recorded events = new Recorded();
        AttributeFeatures.Result result = AttributeFeatures.run(PassRunner.direct(model.transformer()), plan, events);
        assertEquals("accepted", events.order.get(0));
        assertEquals("summary", events.order.get(events.order.size() - 1));
        assertEquals(pairs.size() * 3, events.blocks.size());
        assertEquals(6, events.verified.size());
        assertEquals(3, events.diagnostics.size());
        assertFalse(events.summary.magnitudes());
        // The means the ranking uses are those of each pair's own estimates.
        FeatureEstimates alone = new FeatureGradientWork(pairs, dictionaries.all()).run(model.transformer());
        AttributeFeatures.Scored first = result.scored().get(0);
        double sum = 0;
        for (FeatureEstimates.Pair p : alone.pairs()) {
            FeatureEstimates.Block b = p.byDictionary().get(first.dictionary());
            FeatureNode n = first.node();
            if (n.isError()) {
                sum += b.errors()[n.position()];
            }
            for (int e = 0; e < b.size(); e++) {
                if (!n.isError() && b.positions()[e] == n.position() && b.features()[e] == n.feature()) {
                    sum += b.estimates()[e];
                }
            }
        }
        assertEquals(sum / pairs.size(), first.estimate(), 1e-12 * Math.abs(sum));
        for (int i = 1; i < result.scored().size(); i++) {
            assertTrue(Math.abs(result.scored().get(i - 1).estimate())
                    >= Math.abs(result.scored().get(i).estimate()));
        }
        // Each verified node's effect is its exact patch, the mean over pairs.
        for (AttributeFeatures.Verified v : events.verified) {
            assertEquals(result.scored().get(v.rank() - 1).node(), v.node());
            try (FeaturePatching alonePatching = new FeaturePatching(
                    PassRunner.direct(model.transformer()), pairs, dictionaries.get(v.dictionary()), 1)) {
                double effect = alonePatching.patch(List.of(List.of(v.node())))[0];
                assertEquals(
                        effect,
                        v.effect(),
                        1e-12 * Math.max(1, Math.abs(effect)),
                        v.node().name());
            }
        }
        // The diagnostic covers each dictionary's scored nodes less those verified.
        for (AttributeFeatures.Diagnostic d : events.diagnostics) {
            long scored = result.scored().stream()
                    .filter(s -> s.dictionary().equals(d.dictionary()))
                    .count();
            long verified = events.verified.stream()
                    .filter(v -> v.dictionary().equals(d.dictionary()))
                    .count();
            assertEquals(scored - verified, d.report().nodes(), d.dictionary());
        }
    }

    @Test
    void atpStarGivesMagnitudesOverTheNamedDictionariesOnly() {
        List<PromptPair> pairs = List.of(pair(4, 6), pair(5, 9));
        AttributeFeatures.Plan plan = AttributeFeatures.plan(
                new AttributeFeatures.Request(pairs, List.of("z-jumprelu"), null, 0, null), on, dictionaries);
        Recorded events = new Recorded();
        AttributeFeatures.Result result = AttributeFeatures.run(PassRunner.direct(model.transformer()), plan, events);
        assertTrue(events.summary.magnitudes());
        assertEquals("atp-star", events.summary.method());
        assertTrue(result.scored().stream().allMatch(s -> s.dictionary().equals("z-jumprelu") && s.estimate() >= 0));
        // Pairs of different lengths: each block covers its own pair's positions.
        assertEquals(6, events.blocks.get(0).block().errors().length);
        assertEquals(9, events.blocks.get(1).block().errors().length);
    }

    @Test
    void refusalsNameTheField() {
        List<PromptPair> pairs = List.of(pair(1, 8));
        String[][] cases = {
            {"method", "eap"},
            {"dictionaries", "nope"},
        };
        for (String[] c : cases) {
            AttributeFeatures.Request r = c[0].equals("method")
                    ? new AttributeFeatures.Request(pairs, List.of(), c[1], 0, null)
                    : new AttributeFeatures.Request(pairs, List.of(c[1]), "atp", 0, null);
            InvalidRequest e = assertThrows(InvalidRequest.class, () -> AttributeFeatures.plan(r, on, dictionaries));
            assertTrue(e.getMessage().startsWith(c[0] + ":"), e.getMessage());
            assertEquals(InvalidRequest.Kind.INVALID, e.kind());
        }
        InvalidRequest none = assertThrows(
                InvalidRequest.class,
                () -> AttributeFeatures.plan(
                        new AttributeFeatures.Request(pairs, List.of(), "atp", 0, null), on, new Dictionaries()));
        assertTrue(none.getMessage().contains("--dictionary"), none.getMessage());
        InvalidRequest lengths = assertThrows(
                InvalidRequest.class,
                () -> AttributeFeatures.plan(
                        new AttributeFeatures.Request(List.of(pair(1, 8), pair(2, 9)), List.of(), "atp", 3, null),
                        on,
                        dictionaries));
        assertTrue(lengths.getMessage().startsWith("pairs[1]:"), lengths.getMessage());
        PromptPair kl = new PromptPair(
                pairs.get(0).clean(), pairs.get(0).noise(), new Metric(Metric.Kind.KL_DIVERGENCE, null, null));
        InvalidRequest metric = assertThrows(
                InvalidRequest.class,
                () -> AttributeFeatures.plan(
                        new AttributeFeatures.Request(List.of(kl), List.of(), "atp", 0, null), on, dictionaries));
        assertTrue(metric.getMessage().startsWith("metric:"), metric.getMessage());
        Serving small =
                new Serving(model.transformer(), new Budget(model.config(), 8, 1000), RequestLimits.unlimited(8));
        InvalidRequest budget = assertThrows(
                InvalidRequest.class,
                () -> AttributeFeatures.plan(
                        new AttributeFeatures.Request(pairs, List.of(), "atp", 0, null), small, dictionaries));
        assertEquals(InvalidRequest.Kind.TOO_LARGE, budget.kind());
        assertTrue(budget.getMessage().contains("--memory-budget"), budget.getMessage());
    }
}
