package dev.patchbay.attribution.diagnostic;

import dev.patchbay.attribution.EdgePatching;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;

/**
 * Verification of an edge ranking by exact edge patching, in rank order, and the false-negative diagnostic over the
 * edges left unverified (subsampling with joint edge patches and Welch bounds), as {@link Verification} does for
 * nodes.
 */
public final class EdgeVerification {
    private EdgeVerification() {}

    /** A top edge's score and its effect as exact edge patching measures it. */
    public record Verified(int rank, Edge edge, double estimate, double effect) {}

    /** Told of each edge as soon as its effect is known. */
    public interface Listener {
        void onVerified(Verified verified, int done, int total);
    }

    /** Every top edge's effect, and the cost in forward passes. */
    public record Result(List<Verified> verified, Cost cost) {
        public double largestEffect() {
            return verified.stream()
                    .mapToDouble(v -> Math.abs(v.effect()))
                    .max()
                    .orElse(0);
        }
    }

    /** Patches each of {@code top} (ranked largest |score| first) alone, {@code chunk} patched runs to a pass. */
    public static Result verify(
            PassRunner runner, List<PromptPair> pairs, List<EdgeResult.Scored> top, int chunk, Listener listener) {
        List<Verified> out = new ArrayList<>();
        try (EdgePatching patching = new EdgePatching(runner, pairs, chunk)) {
            patching.patch(top.stream().map(s -> List.of(s.edge())).toList(), (index, effect, perPair) -> {
                EdgeResult.Scored s = top.get(index);
                Verified v = new Verified(index + 1, s.edge(), s.estimate(), effect);
                out.add(v);
                listener.onVerified(v, out.size(), top.size());
            });
            return new Result(out, patching.cost());
        }
    }

    /**
     * The false-negative diagnostic over the edges verification left out ({@code rest}); a threshold of 0 in
     * {@code settings} means a tenth of the largest verified effect.
     */
    public static FalseNegativeDiagnostic.Report<Edge> diagnose(
            PassRunner runner,
            List<PromptPair> pairs,
            List<Edge> rest,
            FalseNegativeDiagnostic.Settings settings,
            double largestVerified,
            int chunk) {
        FalseNegativeDiagnostic.Settings s = Verification.withDefaultThreshold(settings, largestVerified);
        if (rest.isEmpty()) {
            return FalseNegativeDiagnostic.run(rest, null, s);
        }
        try (EdgePatching patching = new EdgePatching(runner, pairs, chunk)) {
            return FalseNegativeDiagnostic.run(rest, patching, s);
        }
    }
}
