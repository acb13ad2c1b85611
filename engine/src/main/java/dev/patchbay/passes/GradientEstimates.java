package dev.patchbay.passes;

import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Cost;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Results of a {@link GradientWork}: for each group (kind, layer) the estimates [pair][node], or, for a summed
 * work, [group of pairs][node] sums of |estimate|; the pairs' clean and noise metrics, and what the passes cost.
 *
 * @param sums the work's groups of pairs when its estimates are sums (empty: one row per pair)
 * @param cache whether the clean passes could come from a cache, and whether they did
 */
public record GradientEstimates(
        Map<BlockKey, double[][]> estimates,
        List<Integer> sums,
        int[] positions,
        double[] cleanMetrics,
        double[] noiseMetrics,
        Cost cost,
        CacheUse cache) {
    /** How a batch used the clean cache. */
    public enum CacheUse {
        NOT_APPLICABLE,
        MISS,
        HIT
    }

    public GradientEstimates withCache(CacheUse use) {
        return new GradientEstimates(estimates, sums, positions, cleanMetrics, noiseMetrics, cost, use);
    }

    /**
     * The pairs [from, from + count) of a merged batch, for the work that owns them. For sums, those pairs are
     * whole groups: the rows of those groups.
     */
    public GradientEstimates slice(int from, int count) {
        int firstRow = from;
        int rowCount = count;
        List<Integer> part = List.of();
        if (!sums.isEmpty()) {
            int start = 0;
            int group = 0;
            while (start < from) {
                start += sums.get(group++);
            }
            int end = group;
            for (int covered = 0; covered < count; end++) {
                covered += sums.get(end);
            }
            if (start != from) {
                throw new IllegalArgumentException("pairs from " + from + " do not start a group of " + sums);
            }
            firstRow = group;
            rowCount = end - group;
            part = sums.subList(group, end);
        }
        Map<BlockKey, double[][]> rows = new LinkedHashMap<>();
        for (Map.Entry<BlockKey, double[][]> e : estimates.entrySet()) {
            rows.put(e.getKey(), Arrays.copyOfRange(e.getValue(), firstRow, firstRow + rowCount));
        }
        double share = (double) count / cleanMetrics.length;
        return new GradientEstimates(
                rows,
                part,
                positions,
                Arrays.copyOfRange(cleanMetrics, from, from + count),
                Arrays.copyOfRange(noiseMetrics, from, from + count),
                new Cost(cost.forwardPasses() * share, cost.computeEquivalents() * share, cost.wallSeconds()),
                cache);
    }

    public List<BlockKey> groups() {
        return List.copyOf(estimates.keySet());
    }
}
