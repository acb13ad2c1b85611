package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Edge.ReaderKind;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.EdgeEstimate;
import dev.patchbay.passes.EdgeEstimates;
import dev.patchbay.passes.EdgeEstimator;
import dev.patchbay.passes.EdgeSites;
import dev.patchbay.passes.EdgeWork;
import dev.patchbay.passes.MetricBatch;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * AtP* and EAP-IG on edges against their definitions computed the slow way: GradDrop's variants as L genuinely
 * separate backward passes, each with one layer's write stopped in the forward graph (the estimator shares one
 * backward and pushes partial ones), the QK fix from the pattern of a model run with the edge's split input patched,
 * and EAP-IG from one gradient pass per interpolation step, a row at a time. Float64.
 */
@Tag("slow")
class EdgeAtPStarTest extends Float64Models {
    /**
     * One random edge of every reader kind in every layer: AtP* equals the mean over the variants that leave the
     * reader a gradient of |estimate under that variant|, to 1e-10 of the largest.
     */
    @ParameterizedTest
    @MethodSource("models")
    void atPStarOnEdgesEqualsSeparateBackwardPasses(String name) {
        HookedTransformer model = model(name);
        PromptPair pair = ToyModels.pair(name);
        ModelConfig config = model.config();
        EdgeGraph graph = new EdgeGraph(config);
        EdgeEstimates star = EdgeEstimator.run(model, new EdgeWork(List.of(pair), EdgeEstimate.ATP_STAR, 0, false));
        Random random = new Random(23);
        int layers = config.nLayers();
        double largest = 0;
        double worst = 0;
        for (EdgeGraph.Group g : graph.groups()) {
            int index = random.nextInt((int) g.edges());
            Edge edge = g.edge(index, null, graph);
            double sum = 0;
            for (int l = 0; l < layers; l++) {
                if (g.kind() != ReaderKind.LOGITS && l == g.layer()) {
                    continue; // the variant that cuts the reader's only way out: left out of the mean
                }
                sum += Math.abs(estimateUnderVariant(model, pair, edge, l));
            }
            double expected = sum / (g.kind() == ReaderKind.LOGITS ? layers : layers - 1);
            largest = Math.max(largest, expected);
            worst = Math.max(worst, Math.abs(expected - star.estimates().get(g)[0][index]));
        }
        assertTrue(largest > 1e-4, "the test needs edges that matter: " + largest);
        assertEquals(0, worst, 1e-10 * largest, name);
    }

    /** With 20 steps (two batches of interpolated runs), EAP-IG equals the steps run one at a time. */
    @ParameterizedTest
    @MethodSource("models")
    void eapIgEqualsOneGradientPassPerStep(String name) {
        HookedTransformer model = model(name);
        PromptPair pair = ToyModels.pair(name);
        ModelConfig config = model.config();
        EdgeGraph graph = new EdgeGraph(config);
        int steps = 20;
        EdgeEstimates ig = EdgeEstimator.run(model, new EdgeWork(List.of(pair), EdgeEstimate.EAP_IG, steps, false));
        Random random = new Random(29);
        double largest = 0;
        double worst = 0;
        for (EdgeGraph.Group g : graph.groups()) {
            if (g.layer() != 0 && g.kind() != ReaderKind.LOGITS) {
                continue;
            }
            int index = random.nextInt((int) g.edges());
            Edge edge = g.edge(index, null, graph);
            double expected = 0;
            for (int k = 0; k < steps; k++) {
                expected += interpolatedEstimate(model, pair, edge, (double) k / steps) / steps;
            }
            largest = Math.max(largest, Math.abs(expected));
            worst = Math.max(worst, Math.abs(expected - ig.estimates().get(g)[0][index]));
        }
        assertTrue(largest > 1e-4, "the test needs edges that matter: " + largest);
        assertEquals(0, worst, 1e-10 * largest, name);
    }

    /** Where the gradient does not depend on the input (a linear model), EAP-IG is EAP for any number of steps. */
    @Test
    void onALinearModelEapIgIsEap() {
        HookedTransformer model = ToyModels.linear(manager, new Random(5));
        PromptPair pair = new PromptPair(
                new int[] {3, 7, 1, 19, 4, 12},
                new int[] {8, 7, 2, 5, 4, 0},
                dev.patchbay.nodes.Metric.logitDiff(new int[] {2, 5}, new int[] {9}));
        EdgeEstimates eap = EdgeEstimator.run(model, new EdgeWork(List.of(pair), EdgeEstimate.EAP, 0, false));
        EdgeEstimates ig = EdgeEstimator.run(model, new EdgeWork(List.of(pair), EdgeEstimate.EAP_IG, 7, false));
        eap.estimates().forEach((g, rows) -> {
            for (int i = 0; i < rows[0].length; i++) {
                assertEquals(rows[0][i], ig.estimates().get(g)[0][i], 1e-10);
            }
        });
    }

    /**
     * The edge's estimate with layer {@code stopped}'s write cut from the backward: the QK fix for queries and keys
     * (pattern change dotted with that variant's pattern gradient), (writer's change) . gradient otherwise.
     */
    private static double estimateUnderVariant(HookedTransformer model, PromptPair pair, Edge edge, int stopped) {
        ModelConfig config = model.config();
        Edge.Reader r = edge.reader();
        boolean qk = r.kind() == ReaderKind.QUERY || r.kind() == ReaderKind.KEY;
        String readerSite = EdgeSites.readerSite(r.kind(), r.layer(), config);
        String pattern = HookSites.attn(r.layer(), "pattern");
        try (NDManager scope = model.compute().newScope()) {
            Runs runs = Runs.of(model, scope, pair, edge);
            Hooks.Builder hooks = Hooks.builder().stopGradientThrough(stopped);
            hooks.gradient(qk ? pattern : readerSite);
            ForwardResult variant =
                    model.forwardWithGradients(scope, TokenBatch.of(pair.clean()), hooks.build(), runs.metric);
            if (qk) {
                ForwardResult patched = model.forward(
                        scope,
                        TokenBatch.of(pair.clean()),
                        Hooks.builder()
                                .patch(readerSite, Patch.of(0, runs.patchedInput(), null, new int[] {r.unit()}))
                                .cache(pattern)
                                .build());
                ForwardResult clean = model.forward(
                        scope,
                        TokenBatch.of(pair.clean()),
                        Hooks.builder().cache(pattern).build());
                return variant.gradient(pattern)
                        .mul(patched.activation(pattern).sub(clean.activation(pattern)))
                        .sum()
                        .getDouble();
            }
            NDArray g = variant.gradient(readerSite).get(new NDIndex("0"));
            g = r.kind().perHead() ? g.get(new NDIndex(":, {}", r.unit())) : g;
            return g.mul(runs.change).sum().getDouble();
        }
    }

    /** (writer's change) . gradient at the reader, in the clean run with its layer-0 input at noise + a (clean - noise). */
    private static double interpolatedEstimate(HookedTransformer model, PromptPair pair, Edge edge, double a) {
        ModelConfig config = model.config();
        Edge.Reader r = edge.reader();
        String readerSite = EdgeSites.readerSite(r.kind(), r.layer(), config);
        String input = HookSites.residPre(0);
        try (NDManager scope = model.compute().newScope()) {
            Runs runs = Runs.of(model, scope, pair, edge);
            NDArray clean = runs.clean.activation(input).get(new NDIndex("0"));
            NDArray noise = runs.noise.activation(input).get(new NDIndex("0"));
            NDArray point = noise.add(clean.sub(noise).mul(scope.create(a)));
            ForwardResult run = model.forwardWithGradients(
                    scope,
                    TokenBatch.of(pair.clean()),
                    Hooks.builder()
                            .patch(input, Patch.whole(0, point))
                            .gradient(readerSite)
                            .build(),
                    runs.metric);
            NDArray g = run.gradient(readerSite).get(new NDIndex("0"));
            g = r.kind().perHead() ? g.get(new NDIndex(":, {}", r.unit())) : g;
            return g.mul(runs.change).sum().getDouble();
        }
    }

    /** The clean and noise runs an edge needs: its writer's change [T, d] and its reader's patched input. */
    private record Runs(
            ForwardResult clean, ForwardResult noise, NDArray change, NDArray cleanInput, MetricBatch metric) {
        static Runs of(HookedTransformer model, NDManager scope, PromptPair pair, Edge edge) {
            ModelConfig config = model.config();
            List<String> writers = EdgeSites.writerSites(config);
            Edge.Reader r = edge.reader();
            String inputSite = EdgeSites.cleanInputSite(r.kind(), r.layer(), config);
            ForwardResult clean = model.forward(
                    scope,
                    TokenBatch.of(pair.clean()),
                    Hooks.builder().cache(writers).cache(inputSite).build());
            ForwardResult noise = model.forward(
                    scope,
                    TokenBatch.of(pair.noise()),
                    Hooks.builder().cache(writers).build());
            NDArray changes = EdgeSites.writerChanges(model, scope, clean.activations(), noise.activations());
            NDArray change = changes.get(new NDIndex("0, :, {}", new EdgeGraph(config).index(edge.writer())));
            MetricBatch metric =
                    new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null);
            return new Runs(clean, noise, change, clean.activation(inputSite).get(new NDIndex("0")), metric);
        }

        NDArray patchedInput() {
            return cleanInput.add(change);
        }
    }
}
