package dev.patchbay.attribution.diagnostic;

import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.NodePatching;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;

/**
 * Verification: the true effects of an estimator's top nodes by activation patching, in rank order, and the
 * false-negative diagnostic over the rest. What the server streams and the command line prints, in one place.
 */
public final class Verification {
    private Verification() {}

    /** A top node's estimate and its effect as activation patching measures it. */
    public record Verified(int rank, Node node, double estimate, double effect) {}

    /** Told of each node as soon as its effect is known. */
    public interface Listener {
        void onVerified(Verified verified, int done, int total);
    }

    /** Every top node's effect, and the cost in forward passes. */
    public record Result(List<Verified> verified, Cost cost) {
        /** The largest |effect|, which sets the diagnostic's default threshold. */
        public double largestEffect() {
            return verified.stream()
                    .mapToDouble(v -> Math.abs(v.effect()))
                    .max()
                    .orElse(0);
        }
    }

    /**
     * Patches each of {@code top} (ranked largest |estimate| first) alone, {@code chunk} patched runs to a pass.
     */
    public static Result verify(
            PassRunner runner,
            List<PromptPair> pairs,
            List<AttributionResult.Scored> top,
            int chunk,
            Listener listener) {
        List<Node> nodes = top.stream().map(AttributionResult.Scored::node).toList();
        List<Verified> out = new ArrayList<>();
        try (NodePatching patching = new NodePatching(runner, pairs, nodes, chunk)) {
            patching.patch(nodes.stream().map(List::of).toList(), (index, effect, perPair) -> {
                AttributionResult.Scored s = top.get(index);
                Verified v = new Verified(index + 1, s.node(), s.estimate(), effect);
                out.add(v);
                listener.onVerified(v, out.size(), top.size());
            });
            return new Result(out, patching.cost());
        }
    }

    /**
     * The false-negative diagnostic over the nodes verification left out ({@code rest}); a threshold of 0 in
     * {@code settings} means a tenth of the largest verified effect.
     */
    public static FalseNegativeDiagnostic.Report<Node> diagnose(
            PassRunner runner,
            List<PromptPair> pairs,
            List<Node> rest,
            FalseNegativeDiagnostic.Settings settings,
            double largestVerified,
            int chunk) {
        return FalseNegativeDiagnostic.run(runner, pairs, rest, withDefaultThreshold(settings, largestVerified), chunk);
    }

    /** The settings with a threshold of 0 replaced by a tenth of the largest verified effect. */
    static FalseNegativeDiagnostic.Settings withDefaultThreshold(
            FalseNegativeDiagnostic.Settings settings, double largestVerified) {
        if (settings.threshold() != 0) {
            return settings;
        }
        return new FalseNegativeDiagnostic.Settings(
                settings.samples(),
                settings.inclusionProbability(),
                settings.alpha(),
                largestVerified / 10,
                settings.seed());
    }
}
