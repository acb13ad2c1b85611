package dev.patchbay.attribution.baselines;

/**
 * The per-node statistics of Subsampling (Algorithm 1): over runs that patch random subsets jointly, each
 * node's mean run effect when it was in the subset and when it was not, with unbiased variances. The
 * estimate is the difference of the two means; with effects that add up, and all subsets, it is exact.
 */
public final class SubsampleStats {
    private final long[][] counts;
    private final double[][] sums;
    private final double[][] squares;

    SubsampleStats(int nodes) {
        counts = new long[2][nodes];
        sums = new double[2][nodes];
        squares = new double[2][nodes];
    }

    /** One run: which nodes it patched, and its effect on the metric. */
    void add(boolean[] included, double effect) {
        for (int n = 0; n < included.length; n++) {
            int side = included[n] ? 1 : 0;
            counts[side][n]++;
            sums[side][n] += effect;
            squares[side][n] += effect * effect;
        }
    }

    /** mean(effect | node patched) - mean(effect | node not patched); NaN until both sides have a run. */
    public double difference(int node) {
        return mean(1, node) - mean(0, node);
    }

    double mean(int side, int node) {
        return counts[side][node] == 0 ? Double.NaN : sums[side][node] / counts[side][node];
    }

    /** Unbiased variance of the run effects on one side; NaN with fewer than two runs. */
    public double variance(int side, int node) {
        long c = counts[side][node];
        if (c < 2) {
            return Double.NaN;
        }
        double m = sums[side][node] / c;
        return Math.max(0, (squares[side][node] - c * m * m) / (c - 1));
    }

    public long count(int side, int node) {
        return counts[side][node];
    }
}
