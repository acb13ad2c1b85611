package dev.patchbay.passes;

import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Cost;
import java.util.List;
import java.util.Map;

/**
 * Per-pair results of a {@link GradientWork}: for each group (kind, layer) the estimates [pair][node], the
 * pairs' clean and noise metrics, and what the passes cost.
 *
 * @param shared whether the batch also carried other requests' pairs
 * @param cache whether the clean passes could come from a cache, and whether they did
 */
public record GradientEstimates(
        Map<BlockKey, double[][]> estimates,
        int[] positions,
        double[] cleanMetrics,
        double[] noiseMetrics,
        Cost cost,
        boolean shared,
        CacheUse cache) {
    /** How a batch used the clean cache. */
    public enum CacheUse {
        NOT_APPLICABLE,
        MISS,
        HIT
    }

    public GradientEstimates withCache(CacheUse use) {
        return new GradientEstimates(estimates, positions, cleanMetrics, noiseMetrics, cost, shared, use);
    }

    /** The rows [from, from + count) of a merged batch, for the work that owns them. */
    public GradientEstimates slice(int from, int count, boolean sharedBatch) {
        Map<BlockKey, double[][]> part = new java.util.LinkedHashMap<>();
        estimates.forEach((g, rows) -> part.put(g, java.util.Arrays.copyOfRange(rows, from, from + count)));
        double share = (double) count / cleanMetrics.length;
        return new GradientEstimates(
                part,
                positions,
                java.util.Arrays.copyOfRange(cleanMetrics, from, from + count),
                java.util.Arrays.copyOfRange(noiseMetrics, from, from + count),
                new Cost(cost.forwardPasses() * share, cost.computeEquivalents() * share, cost.wallSeconds()),
                sharedBatch,
                cache);
    }

    public List<BlockKey> groups() {
        return List.copyOf(estimates.keySet());
    }
}
