package dev.patchbay.attribution.diagnostic;

import dev.patchbay.attribution.GroupPatching;
import dev.patchbay.attribution.NodePatching;
import dev.patchbay.attribution.baselines.SubsampleStats;
import dev.patchbay.attribution.baselines.Subsampling;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.apache.commons.statistics.distribution.TDistribution;

/**
 * Bounds the effects of the nodes a method's top K left unverified (docs/spec/atp-spec.md section 8): Subsampling
 * restricted to them, then for each node a Welch t upper confidence bound on |effect|, UCB = |d| + t(nu, 1 - alpha) *
 * se, with d the difference of its included and excluded means. Nodes whose bound reaches the threshold should be
 * verified next. Assumes effects roughly add when nodes are patched jointly; a small inclusion probability keeps runs
 * close to single-node patches.
 */
public final class FalseNegativeDiagnostic {
    /**
     * @param threshold the relevance threshold theta; nodes with UCB >= theta are flagged
     * @param alpha the per-node error rate of the one-sided bound
     */
    public record Settings(int samples, double inclusionProbability, double alpha, double threshold, long seed) {
        public static final int DEFAULT_SAMPLES = 256;
        public static final double DEFAULT_INCLUSION = 0.05;
        public static final double DEFAULT_ALPHA = 0.05;

        /** The defaults: 256 samples, inclusion 0.05, alpha 0.05, the threshold left to the caller (0), seed 0. */
        public static Settings defaults() {
            return new Settings(DEFAULT_SAMPLES, DEFAULT_INCLUSION, DEFAULT_ALPHA, 0, 0);
        }

        public Settings {
            // Written as what must hold, so that NaN fails each test too.
            if (samples < 4
                    || !(inclusionProbability > 0 && inclusionProbability < 1)
                    || !(alpha > 0 && alpha < 1)
                    || !(threshold >= 0 && threshold < Double.POSITIVE_INFINITY)) {
                throw new IllegalArgumentException("diagnostic: samples >= 4, 0 < inclusion_probability < 1,"
                        + " 0 < alpha < 1 and threshold >= 0");
            }
        }
    }

    /** One node's (or edge's) bound. */
    public record Bound<T>(
            T item,
            double difference,
            double standardError,
            double degreesOfFreedom,
            double upperBound,
            double missProbability) {}

    /**
     * @param flagged nodes whose bound reaches the threshold, largest bound first
     * @param expectedMissed the union bound: the sum over nodes of P(|effect| >= threshold)
     */
    public record Report<T>(
            long nodes,
            double maxUpperBound,
            double threshold,
            double alpha,
            List<Bound<T>> flagged,
            double expectedMissed,
            Cost cost) {}

    private FalseNegativeDiagnostic() {}

    public static Report<Node> run(
            PassRunner runner, List<PromptPair> pairs, List<Node> unverified, Settings s, int chunk) {
        if (unverified.isEmpty()) {
            return run(unverified, null, s);
        }
        try (NodePatching patching = new NodePatching(runner, pairs, unverified, chunk)) {
            return run(unverified, patching, s);
        }
    }

    /** The diagnostic over any patchable items (nodes or edges), with a patching session the caller closes. */
    public static <T> Report<T> run(List<T> unverified, GroupPatching<T> patching, Settings s) {
        if (unverified.isEmpty()) {
            return new Report<>(0, 0, s.threshold(), s.alpha(), List.of(), 0, new Cost(0, 0, 0));
        }
        SubsampleStats stats =
                Subsampling.run(unverified, patching, s.samples(), s.inclusionProbability(), new Random(s.seed()));
        List<Bound<T>> bounds = new ArrayList<>();
        for (int n = 0; n < unverified.size(); n++) {
            bounds.add(bound(unverified.get(n), stats, n, s));
        }
        bounds.sort(Comparator.comparingDouble((Bound<T> b) -> -b.upperBound()));
        List<Bound<T>> flagged =
                bounds.stream().filter(b -> b.upperBound() >= s.threshold()).toList();
        double expected = bounds.stream().mapToDouble(Bound::missProbability).sum();
        return new Report<>(
                unverified.size(),
                bounds.get(0).upperBound(),
                s.threshold(),
                s.alpha(),
                flagged,
                expected,
                patching.cost());
    }

    static <T> Bound<T> bound(T node, SubsampleStats stats, int n, Settings s) {
        double d = stats.difference(n);
        if (Double.isNaN(d)) {
            // The node was always or never patched: nothing is known of it.
            return new Bound<>(node, Double.NaN, Double.NaN, Double.NaN, Double.POSITIVE_INFINITY, 1);
        }
        double vIn = stats.variance(1, n) / stats.count(1, n);
        double vOut = stats.variance(0, n) / stats.count(0, n);
        if (Double.isNaN(vIn) || Double.isNaN(vOut)) {
            return new Bound<>(node, d, Double.NaN, Double.NaN, Double.POSITIVE_INFINITY, 1);
        }
        double se = Math.sqrt(vIn + vOut);
        if (se == 0) {
            return new Bound<>(node, d, 0, Double.POSITIVE_INFINITY, Math.abs(d), Math.abs(d) >= s.threshold() ? 1 : 0);
        }
        // Welch-Satterthwaite degrees of freedom.
        double nu =
                (se * se) * (se * se) / (vIn * vIn / (stats.count(1, n) - 1) + vOut * vOut / (stats.count(0, n) - 1));
        TDistribution t = TDistribution.of(nu);
        double upper = Math.abs(d) + t.inverseCumulativeProbability(1 - s.alpha()) * se;
        // P(|D| >= theta) with D ~ d + se * T(nu).
        double miss =
                t.survivalProbability((s.threshold() - d) / se) + t.cumulativeProbability((-s.threshold() - d) / se);
        return new Bound<>(node, d, se, nu, upper, Math.min(1, miss));
    }
}
