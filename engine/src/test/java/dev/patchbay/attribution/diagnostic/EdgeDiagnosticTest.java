package dev.patchbay.attribution.diagnostic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Verification and the false-negative diagnostic on edges, against exact edge patching of every edge. The edges
 * into the logits of a linear model act in parallel, so their joint patches add up exactly: the diagnostic's
 * assumption holds and its one-sided bounds at alpha = 0.05 must cover about 95% of the true effects.
 */
class EdgeDiagnosticTest extends Float64Models {
    private static final PromptPair PAIR = new PromptPair(
            new int[] {3, 7, 1, 19, 4, 12},
            new int[] {8, 7, 2, 5, 4, 0},
            Metric.logitDiff(new int[] {2, 5}, new int[] {9}));

    @Test
    void verifiedEffectsAreExactAndTheBoundsCoverTheUnverifiedEdges() {
        HookedTransformer model = ToyModels.linear(manager, new Random(5));
        PassRunner runner = PassRunner.direct(model);
        EdgeResult exact = EdgeAttribution.run(
                runner,
                List.of(PAIR),
                new EdgeAttribution.Settings(EdgeAttribution.Method.EXACT, true, 1, 4, 64),
                EdgeAttribution.Listener.NONE);
        EdgeResult eap = EdgeAttribution.run(
                runner,
                List.of(PAIR),
                new EdgeAttribution.Settings(EdgeAttribution.Method.EAP, true, 1, 4, 64),
                EdgeAttribution.Listener.NONE);
        List<EdgeResult.Scored> top = eap.top(3);
        EdgeVerification.Result verified = EdgeVerification.verify(runner, List.of(PAIR), top, 16, (v, d, t) -> {});
        for (EdgeVerification.Verified v : verified.verified()) {
            assertEquals(
                    exact.estimate(v.edge().name()), v.effect(), 1e-12, v.edge().name());
        }
        // The per-position edges into the logits that verification left.
        List<Edge> rest = new ArrayList<>();
        for (Edge e : eap.edgesExcept(top)) {
            if (e.reader().kind() == Edge.ReaderKind.LOGITS) {
                rest.add(e);
            }
        }
        assertTrue(rest.size() >= 30, "the test needs edges to bound: " + rest.size());
        // The default threshold is a tenth of the largest verified effect.
        var report = EdgeVerification.diagnose(
                runner,
                List.of(PAIR),
                rest,
                new FalseNegativeDiagnostic.Settings(400, 0.3, 0.05, 0.0, 1),
                verified.largestEffect(),
                64);
        assertEquals(rest.size(), report.nodes());
        assertEquals(verified.largestEffect() / 10, report.threshold(), 1e-15);
        // With a threshold of a quarter of the largest unverified effect, every edge whose true effect is at least
        // twice it is flagged.
        double largestLeft = rest.stream()
                .mapToDouble(e -> Math.abs(exact.estimate(e.name())))
                .max()
                .orElseThrow();
        var flagged = EdgeVerification.diagnose(
                runner,
                List.of(PAIR),
                rest,
                new FalseNegativeDiagnostic.Settings(400, 0.3, 0.05, largestLeft / 4, 1),
                verified.largestEffect(),
                64);
        int large = 0;
        for (Edge e : rest) {
            if (Math.abs(exact.estimate(e.name())) >= largestLeft / 2) {
                large++;
                assertTrue(
                        flagged.flagged().stream().anyMatch(b -> b.item().equals(e)),
                        e.name() + " has a true effect of " + exact.estimate(e.name()) + " and is not flagged");
            }
        }
        assertTrue(large > 0);
        // Calibration: with a threshold so small that every edge gets its bound, over ten seeds the one-sided bounds
        // at alpha = 0.05 cover about 95% of the true effects.
        int covered = 0;
        int total = 0;
        for (long seed = 1; seed <= 10; seed++) {
            var all = EdgeVerification.diagnose(
                    runner,
                    List.of(PAIR),
                    rest,
                    new FalseNegativeDiagnostic.Settings(400, 0.3, 0.05, Double.MIN_VALUE, seed),
                    verified.largestEffect(),
                    64);
            for (FalseNegativeDiagnostic.Bound<Edge> b : all.flagged()) {
                covered += b.upperBound() >= Math.abs(exact.estimate(b.item().name())) ? 1 : 0;
                total++;
            }
        }
        System.out.printf("edge diagnostic calibration: %d of %d bounds cover their effect%n", covered, total);
        assertEquals(rest.size() * 10, total);
        assertTrue(covered >= 0.9 * total, covered + " of " + total + " bounds cover their effect");
    }
}
