package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Circuit evaluation against independent computations: the full circuit is the clean run, the empty circuit under
 * noise-prompt ablation is the noise run, a circuit missing one edge is exact edge patching of that edge, and resample
 * ablation is noise-prompt ablation with the drawn pair's clean prompt as the noise, run per row. Float64.
 */
@Tag("slow")
class CircuitEvaluationTest extends Float64Models {
    @ParameterizedTest
    @ValueSource(
            strings = {
                "tiny-gpt2",
                "tiny-neox",
                "tiny-llama",
                "tiny-llama3",
                "tiny-qwen2",
                "tiny-qwen3",
                "tiny-mistral",
                "tiny-phi3"
            })
    void theFullAndEmptyCircuitsAreTheCleanAndNoiseRunsAndOneMissingEdgeIsEdgePatching(String name) {
        HookedTransformer model = model(name);
        PromptPair pair = ToyModels.pair(name);
        EdgeGraph graph = new EdgeGraph(model.config());
        try (CircuitEvaluation eval =
                        new CircuitEvaluation(PassRunner.direct(model), List.of(pair), Ablation.NOISE_PROMPT, 0, 8);
                EdgePatching patching = new EdgePatching(PassRunner.direct(model), List.of(pair), 8)) {
            Set<Edge> all = eval.allEdges();
            Random random = new Random(3);
            List<Edge> missing = new ArrayList<>();
            for (EdgeGraph.Group g : graph.groups()) {
                missing.add(g.edge(random.nextInt((int) g.edges()), null, graph));
            }
            List<Set<Edge>> circuits = new ArrayList<>(List.of(all, Set.of()));
            for (Edge e : missing) {
                Set<Edge> without = new LinkedHashSet<>(all);
                without.remove(e);
                circuits.add(without);
            }
            double[][] m = eval.metrics(circuits);
            assertEquals(patching.cleanMetric(), m[0][0], 1e-10 * Math.max(1, Math.abs(patching.cleanMetric())));
            assertEquals(patching.noiseMetric(), m[1][0], 1e-10 * Math.max(1, Math.abs(patching.noiseMetric())));
            double[] exact = patching.patch(missing.stream().map(List::of).toList());
            double largest = 0;
            for (int i = 0; i < missing.size(); i++) {
                double effect = m[2 + i][0] - m[0][0];
                largest = Math.max(largest, Math.abs(exact[i]));
                assertEquals(exact[i], effect, 1e-10 * Math.max(1, Math.abs(exact[i])), name + " " + missing.get(i));
            }
            assertTrue(largest > 1e-3, "the test needs edges that matter: " + largest);
            CircuitEvaluation.Faithfulness full = eval.faithfulness(all);
            CircuitEvaluation.Faithfulness empty = eval.faithfulness(Set.of());
            assertEquals(1.0, full.mean());
            assertEquals(0.0, empty.mean());
        }
    }

    /** Resample ablation equals, row by row, noise-prompt ablation whose noise is the drawn pair's clean prompt. */
    @Test
    void resampleAblationEqualsAnIndependentRunPerRow() {
        HookedTransformer model = model("tiny-llama");
        int[] a = {5, 17, 2, 44, 9, 31, 7, 12};
        int[] b = {6, 17, 3, 41, 9, 28, 7, 13};
        int[] c = {8, 11, 2, 40, 19, 31, 5, 12};
        Metric metric = Metric.logitDiff(new int[] {11}, new int[] {40});
        List<PromptPair> pairs =
                List.of(new PromptPair(a, b, metric), new PromptPair(b, c, metric), new PromptPair(c, a, metric));
        EdgeGraph graph = new EdgeGraph(model.config());
        Set<Edge> circuit = new LinkedHashSet<>();
        Random random = new Random(9);
        for (EdgeGraph.Group g : graph.groups()) {
            for (int i = 0; i < g.edges(); i++) {
                if (random.nextDouble() < 0.3) {
                    circuit.add(g.edge(i, null, graph));
                }
            }
        }
        double[][] resampled;
        try (CircuitEvaluation eval =
                new CircuitEvaluation(PassRunner.direct(model), pairs, Ablation.RESAMPLE, 42, 4)) {
            resampled = eval.metrics(List.of(circuit, circuit));
        }
        // The draws: once per pair, in order, each another pair uniformly; every circuit uses the same ones.
        Random draws = new Random(42);
        int[] source = new int[pairs.size()];
        for (int p = 0; p < pairs.size(); p++) {
            int j = draws.nextInt(pairs.size() - 1);
            source[p] = j >= p ? j + 1 : j;
        }
        for (int c0 = 0; c0 < 2; c0++) {
            assertEquals(resampled[0][0], resampled[c0][0], 1e-10, "the same circuit on the same draws");
            for (int p = 0; p < pairs.size(); p++) {
                int j = source[p];
                PromptPair asNoise =
                        new PromptPair(pairs.get(p).clean(), pairs.get(j).clean(), metric);
                try (CircuitEvaluation one = new CircuitEvaluation(
                        PassRunner.direct(model), List.of(asNoise), Ablation.NOISE_PROMPT, 0, 1)) {
                    double expected = one.metrics(List.of(circuit))[0][0];
                    assertEquals(expected, resampled[c0][p], 1e-10 * Math.max(1, Math.abs(expected)));
                }
            }
        }
    }

    /**
     * A prune curve's points are the faithfulness of each top-n circuit evaluated alone; the empty circuit scores 0
     * and the full one 1 exactly; the interval brackets the mean.
     */
    @Test
    void aPruneCurveIsEachTopNCircuitEvaluatedAlone() {
        HookedTransformer model = model("tiny-llama");
        int[] a = {5, 17, 2, 44, 9, 31, 7, 12};
        int[] b = {6, 17, 3, 41, 9, 28, 7, 13};
        int[] c = {8, 11, 2, 40, 19, 31, 5, 12};
        Metric metric = Metric.logitDiff(new int[] {11}, new int[] {40});
        List<PromptPair> pairs =
                List.of(new PromptPair(a, b, metric), new PromptPair(b, c, metric), new PromptPair(c, a, metric));
        EdgeResult eap = EdgeAttribution.run(
                PassRunner.direct(model),
                pairs,
                new EdgeAttribution.Settings(EdgeAttribution.Method.EAP, false, 1, 4, 16),
                EdgeAttribution.Listener.NONE);
        List<Edge> ranking =
                eap.top(eap.size()).stream().map(EdgeResult.Scored::edge).toList();
        int[] sizes = {0, 5, 20, 60, ranking.size()};
        try (CircuitEvaluation eval = new CircuitEvaluation(PassRunner.direct(model), pairs, Ablation.MEAN, 0, 8)) {
            List<CircuitEvaluation.CurvePoint> streamed = new ArrayList<>();
            List<CircuitEvaluation.CurvePoint> curve = eval.pruneCurve(ranking, sizes, streamed::add);
            assertEquals(curve, streamed);
            assertEquals(0.0, curve.get(0).faithfulness().mean());
            assertEquals(1.0, curve.get(sizes.length - 1).faithfulness().mean());
            for (CircuitEvaluation.CurvePoint p : curve) {
                CircuitEvaluation.Faithfulness alone =
                        eval.faithfulness(new LinkedHashSet<>(ranking.subList(0, p.size())));
                assertEquals(alone.mean(), p.faithfulness().mean(), 1e-9, "top " + p.size());
                assertTrue(p.faithfulness().low() <= p.faithfulness().mean()
                        && p.faithfulness().mean() <= p.faithfulness().high());
            }
        }
    }

    /** Where a norm follows the sum of the heads (Gemma, OLMo 2), a head has no write of its own: refused, named. */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-gemma2", "tiny-olmo2"})
    void familiesWhoseHeadsDoNotAddUpAreRefused(String name) {
        IllegalArgumentException refused = assertThrows(
                IllegalArgumentException.class,
                () -> new CircuitEvaluation(
                        PassRunner.direct(model(name)), List.of(ToyModels.pair(name)), Ablation.ZERO, 0, 4));
        assertTrue(refused.getMessage().contains("normalizes the attention output"), refused.getMessage());
    }
}
