package dev.patchbay.attribution.diagnostic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.attribution.ActivationPatching;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.examples.ConstructedExample;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.List;
import org.junit.jupiter.api.Test;

class FalseNegativeDiagnosticTest extends Float64Models {
    @Test
    void flagsANodeThatAtPStarMisses() {
        HookedTransformer model = ConstructedExample.sameLayerCancellation(manager);
        PromptPair pair =
                new PromptPair(new int[] {1, 0}, new int[] {1, 1}, Metric.logitDiff(new int[] {2}, new int[] {3}));
        NodeSet neurons = NodeSet.neurons();
        String planted = "L0N0@1";
        AttributionResult exact = new ActivationPatching(16).run(model, List.of(pair), neurons);
        AttributionResult star = new AtPStar(1).run(model, List.of(pair), neurons);
        assertEquals(0.5, exact.estimate(planted), 1e-12, "the planted neuron matters");
        assertEquals(0.0, star.estimate(planted), 1e-12, "and AtP* misses it");

        int k = 2;
        List<Node> top = star.ranked().subList(0, k).stream()
                .map(AttributionResult.Scored::node)
                .toList();
        assertTrue(top.stream().noneMatch(n -> n.name().equals(planted)));
        List<Node> unverified = star.ranked().subList(k, star.ranked().size()).stream()
                .map(AttributionResult.Scored::node)
                .toList();
        var report = FalseNegativeDiagnostic.run(
                PassRunner.direct(model),
                List.of(pair),
                unverified,
                new FalseNegativeDiagnostic.Settings(200, 0.2, 0.05, 0.1, 3),
                64);
        assertEquals(planted, report.flagged().get(0).item().name(), "the largest bound is the planted node's");
        assertEquals(0.5, report.flagged().get(0).difference(), 1e-9, "effects add here, so the estimate is exact");
        assertTrue(report.maxUpperBound() >= 0.5);
        assertEquals(2 + 200, report.cost().forwardPasses());
        // Every other unverified node does nothing: none but the planted one should be likely to matter.
        assertTrue(report.expectedMissed() < 1.5, "expected missed " + report.expectedMissed());
    }

    /**
     * Last-layer neurons of the linear model act in parallel, so their effects add exactly under joint patching
     * (nodes in series do not: patching a later node blocks an earlier one's path through it, which is the
     * method's stated limitation). There the bound of each node covers its true effect, and tightens with
     * more samples.
     */
    @Test
    void boundsCoverAdditiveEffectsAndTightenWithMoreSamples() {
        HookedTransformer model = ToyModels.linear(manager, new java.util.Random(5));
        PromptPair pair = new PromptPair(
                new int[] {3, 7, 1, 19, 4, 12},
                new int[] {8, 7, 2, 5, 4, 0},
                Metric.logitDiff(new int[] {2, 5}, new int[] {9}));
        NodeSet lastNeurons = new NodeSet(java.util.EnumSet.of(NodeKind.NEURON), new int[] {1}, true, new int[] {5});
        List<Node> nodes = lastNeurons.enumerate(model.config(), pair.length());
        AttributionResult exact = new ActivationPatching(16).run(model, List.of(pair), lastNeurons);
        FalseNegativeDiagnostic.Report<Node> few = FalseNegativeDiagnostic.run(
                PassRunner.direct(model),
                List.of(pair),
                nodes,
                new FalseNegativeDiagnostic.Settings(40, 0.3, 0.05, 0.0, 1),
                64);
        FalseNegativeDiagnostic.Report<Node> many = FalseNegativeDiagnostic.run(
                PassRunner.direct(model),
                List.of(pair),
                nodes,
                new FalseNegativeDiagnostic.Settings(800, 0.3, 0.05, 0.0, 1),
                64);
        double widthFew = few.flagged().stream()
                .mapToDouble(FalseNegativeDiagnostic.Bound::standardError)
                .average()
                .orElseThrow();
        double widthMany = many.flagged().stream()
                .mapToDouble(FalseNegativeDiagnostic.Bound::standardError)
                .average()
                .orElseThrow();
        assertTrue(
                widthMany < widthFew / 2,
                "800 samples should tighten 40 samples' errors about 4.5x: " + widthMany + " vs " + widthFew);
        // Calibration: over ten seeds, the one-sided bounds at alpha = 0.05 cover about 95% of the effects
        // (the 16 nodes of one run share its subsets, so one seed alone can miss several at once).
        int covered = 0;
        int total = 0;
        for (long seed = 1; seed <= 10; seed++) {
            var report = FalseNegativeDiagnostic.run(
                    PassRunner.direct(model),
                    List.of(pair),
                    nodes,
                    new FalseNegativeDiagnostic.Settings(400, 0.3, 0.05, 0.0, seed),
                    64);
            for (FalseNegativeDiagnostic.Bound<Node> b : report.flagged()) {
                covered += b.upperBound() >= Math.abs(exact.estimate(b.item().name())) ? 1 : 0;
                total++;
            }
        }
        System.out.printf("diagnostic calibration: %d of %d bounds cover their effect%n", covered, total);
        assertEquals(nodes.size() * 10, total);
        assertTrue(covered >= 0.9 * total, covered + " of " + total + " bounds cover their effect");
    }
}
