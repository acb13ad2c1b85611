package dev.patchbay.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.attribution.AtP;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.EdgeEstimate;
import dev.patchbay.passes.Recomputation;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The plan runs the AtP family with per-layer recomputation where one pair of the plain pass would not fit the memory
 * budget but a recomputed one does, refuses what fits neither, and takes the request's flag for the methods that have
 * it.
 */
class RecomputeLayersPlanTest {
    private static LoadedModel loaded;
    /**
     * The memory of the tiny Llama's shape with 16 layers, as a 1B Llama has: with two layers, one layer's graph and
     * one forward's working set are no smaller than the plain pass, and recomputation would never be chosen.
     */
    private static ModelConfig config;

    @BeforeAll
    static void load() {
        loaded = TestCheckpoints.load("tiny-llama", DataType.FLOAT32);
        config = loaded.transformer().config().toBuilder()
                .nLayers(16)
                .layers(null)
                .build();
    }

    @AfterAll
    static void close() {
        loaded.close();
    }

    private static PromptPair pair(int length) {
        int[] clean = IntStream.range(0, length).map(i -> 5 + i % 50).toArray();
        int[] noise = clean.clone();
        noise[1] = 77;
        return new PromptPair(clean, noise, Metric.logitDiff(new int[] {11}, new int[] {40}));
    }

    private static AttributeNodes.Plan plan(String method, int length, long budget, boolean force) {
        Serving on = new Serving(loaded.transformer(), new Budget(config, 4, budget), RequestLimits.unlimited(8));
        return AttributeNodes.plan(
                new AttributeNodes.Request(
                        List.of(pair(length)), NodeSet.attentionAndNeurons(), method, null, 0, 0, null, force),
                on);
    }

    @Test
    void aPromptWhosePlainPassDoesNotFitRunsWithRecomputation() {
        int length = 512;
        Budget sizes = new Budget(config, 4, 1);
        long plain = sizes.gradientRowBytes(length, true, false);
        long layerwise = sizes.layerwiseGradientRowBytes(length, true, false, false, false);
        assertTrue(layerwise < plain, "recomputation must hold less: " + layerwise + " of " + plain);
        long between = (plain + layerwise) / 2;

        AttributeNodes.Plan fits = plan("atp-qk", length, plain * 2, false);
        assertFalse(((AtP) fits.method()).recomputesLayers(), "the plain pass where it fits");
        assertEquals("", fits.accepted().variant());
        AttributeNodes.Plan recomputed = plan("atp-qk", length, between, false);
        assertTrue(((AtP) recomputed.method()).recomputesLayers());
        assertEquals("atp-qk", recomputed.methodId());
        assertTrue(
                recomputed
                        .accepted()
                        .variant()
                        .startsWith("per-layer recomputation: one pair of the plain pass needs about"),
                recomputed.accepted().variant());

        // AtP* keeps the QK fix's tables of every layer for its variants: recomputed, one layer's chunks.
        long starPlain = sizes.gradientRowBytes(length, true, true);
        long starLayerwise = sizes.layerwiseGradientRowBytes(length, true, true, false, false);
        assertTrue(starLayerwise < starPlain, starLayerwise + " of " + starPlain);
        AttributeNodes.Plan star = plan("atp-star", length, (starPlain + starLayerwise) / 2, false);
        assertTrue(((AtPStar) star.method()).recomputesLayers());
        // Recomputed AtP* keeps each layer's QK-fix tables for its variants where they fit, and only there.
        // (The plan's nodes, attentionAndNeurons, are per position.)
        long starKeeping = sizes.layerwiseGradientRowBytes(length, true, true, true, true);
        assertTrue(starLayerwise < starKeeping && starKeeping < starPlain, starKeeping + " of " + starPlain);
        AttributeNodes.Plan keeping = plan("atp-star", length, starKeeping, false);
        assertEquals(Recomputation.PER_LAYER_KEEPING_QK_TABLES, ((AtPStar) keeping.method()).recomputation());
        assertTrue(keeping.accepted().variant().endsWith("keeping each layer's QK-fix tables for GradDrop's variants"));
        AttributeNodes.Plan making = plan("atp-star", length, starKeeping - 1, false);
        assertEquals(Recomputation.PER_LAYER, ((AtPStar) making.method()).recomputation());
        assertFalse(((AtPStar) plan("atp-star", length, starPlain * 2, false).method()).recomputesLayers());
        InvalidRequest neither = assertThrows(InvalidRequest.class, () -> plan("atp-qk", length, layerwise / 2, false));
        assertTrue(neither.getMessage().contains("with per-layer recomputation"), neither.getMessage());
        // The refusal names the smallest budget that runs the request, and that budget does.
        Matcher named = Pattern.compile("a --memory-budget of at least ([0-9.]+) GB would run it")
                .matcher(neither.getMessage());
        assertTrue(named.find(), neither.getMessage());
        long smallest = (long) (Double.parseDouble(named.group(1)) * 1e9);
        assertTrue(((AtP) plan("atp-qk", length, smallest, false).method()).recomputesLayers());
        assertThrows(InvalidRequest.class, () -> plan("atp-qk", length, smallest - 20_000_000, false));
    }

    private static AttributeEdges.Plan edgePlan(String method, int length, long budget, boolean force) {
        Serving on = new Serving(loaded.transformer(), new Budget(config, 4, budget), RequestLimits.unlimited(8));
        return AttributeEdges.plan(
                new AttributeEdges.Request(
                        List.of(pair(length)), EdgeAttribution.Method.byId(method), 3, false, 0, 0, null, force),
                on);
    }

    /** Edge estimates likewise: recomputed where the plain pass does not fit, refused naming a budget that runs. */
    @Test
    void anEdgeEstimateWhosePlainPassDoesNotFitRunsWithRecomputation() {
        int length = 512;
        Budget sizes = new Budget(config, 4, 1);
        for (String method : List.of("eap", "eap-ig", "atp-star")) {
            EdgeEstimate estimate = EdgeAttribution.Method.byId(method).estimate();
            long plain = sizes.edgeRowBytes(length, estimate, 3);
            long layerwise = sizes.layerwiseEdgeRowBytes(length, estimate, 3, false);
            assertTrue(layerwise < plain, method + ": recomputation must hold less: " + layerwise + " of " + plain);
            AttributeEdges.Plan fits = edgePlan(method, length, plain * 2, false);
            assertFalse(fits.settings().recomputeLayers(), method + ": the plain pass where it fits");
            assertEquals("", fits.accepted().variant());
            AttributeEdges.Plan recomputed = edgePlan(method, length, (plain + layerwise) / 2, false);
            assertTrue(recomputed.settings().recomputeLayers(), method);
            assertTrue(
                    recomputed
                            .accepted()
                            .variant()
                            .startsWith("per-layer recomputation: one pair of the plain pass needs about"),
                    recomputed.accepted().variant());
            InvalidRequest neither =
                    assertThrows(InvalidRequest.class, () -> edgePlan(method, length, layerwise / 2, false));
            assertTrue(neither.getMessage().contains(method + " with per-layer recomputation"), neither.getMessage());
            Matcher named = Pattern.compile("a --memory-budget of at least ([0-9.]+) GB would run it")
                    .matcher(neither.getMessage());
            assertTrue(named.find(), neither.getMessage());
            long smallest = (long) (Double.parseDouble(named.group(1)) * 1e9);
            assertTrue(edgePlan(method, length, smallest, false).settings().recomputeLayers(), method);
            assertThrows(InvalidRequest.class, () -> edgePlan(method, length, smallest - 20_000_000, false));
        }
    }

    @Test
    void theRequestsFlagForcesItForEdgeEstimatesAndExactPatchingRefusesIt() {
        for (String method : List.of("eap", "eap-ig", "atp-star")) {
            AttributeEdges.Plan forced = edgePlan(method, 16, 1L << 32, true);
            assertTrue(forced.settings().recomputeLayers(), method);
            assertEquals(
                    "per-layer recomputation (asked for)", forced.accepted().variant());
        }
        // Asked for where it holds more than the plain pass (a short prompt: one chunk of the QK fix's tables): a
        // budget the plain pass fits is refused, naming the recomputed pass's, which runs it.
        Budget sizes = new Budget(config, 4, 1);
        long plain = sizes.edgeRowBytes(16, EdgeEstimate.ATP_STAR, 3);
        long recomputed = sizes.layerwiseEdgeRowBytes(16, EdgeEstimate.ATP_STAR, 3, false);
        assertTrue(plain < recomputed, plain + " against " + recomputed);
        InvalidRequest tooSmall =
                assertThrows(InvalidRequest.class, () -> edgePlan("atp-star", 16, (plain + recomputed) / 2, true));
        Matcher named = Pattern.compile("a --memory-budget of at least ([0-9.]+) GB would run it")
                .matcher(tooSmall.getMessage());
        assertTrue(named.find(), tooSmall.getMessage());
        long smallest = (long) (Double.parseDouble(named.group(1)) * 1e9);
        assertTrue(edgePlan("atp-star", 16, smallest, true).settings().recomputeLayers());
        InvalidRequest e = assertThrows(InvalidRequest.class, () -> edgePlan("exact", 16, 1L << 32, true));
        assertTrue(e.getMessage().startsWith("recompute_layers: exact edge patching"), e.getMessage());
    }

    @Test
    void theRequestsFlagForcesItForTheAtPFamilyAndIsRefusedElsewhere() {
        assertTrue(((AtP) plan("atp", 16, 1L << 32, true).method()).recomputesLayers());
        assertTrue(((AtPStar) plan("atp-star", 16, 1L << 32, true).method()).recomputesLayers());
        InvalidRequest e = assertThrows(InvalidRequest.class, () -> plan("ap", 16, 1L << 32, true));
        assertEquals(
                "recompute_layers: only atp, atp-qk and atp-star run with per-layer recomputation, not ap",
                e.getMessage());
    }
}
