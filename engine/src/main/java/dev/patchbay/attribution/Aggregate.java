package dev.patchbay.attribution;

import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.EffectBlock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Accumulates per-pair estimates into blocks: the signed value for a single pair, the mean of per-pair
 * absolute values over a distribution (eq. 5: the absolute value inside the expectation), and the clean and
 * noise metric means.
 */
final class Aggregate {
    private final int pairs;
    private final Map<BlockKey, double[]> signed = new LinkedHashMap<>();
    private final Map<BlockKey, double[]> absolute = new LinkedHashMap<>();
    private final Map<BlockKey, int[]> positions = new LinkedHashMap<>();
    private final Map<BlockKey, Integer> units = new LinkedHashMap<>();
    private double cleanSum;
    private double noiseSum;

    Aggregate(int pairs) {
        this.pairs = pairs;
    }

    void metrics(double[] clean, double[] noise) {
        for (double m : clean) {
            cleanSum += m;
        }
        for (double m : noise) {
            noiseSum += m;
        }
    }

    /** Adds one pair's estimates of one group. */
    void add(BlockKey g, int[] nodePositions, ModelConfig config, double[] estimates) {
        double[] s = signed.computeIfAbsent(g, k -> new double[estimates.length]);
        double[] a = absolute.computeIfAbsent(g, k -> new double[estimates.length]);
        positions.putIfAbsent(g, nodePositions);
        units.putIfAbsent(g, g.kind().units(config));
        for (int i = 0; i < estimates.length; i++) {
            s[i] += estimates[i];
            a[i] += Math.abs(estimates[i]);
        }
    }

    /** Adds a sum of absolute estimates over some pairs, summed where they were computed (no signed values). */
    void addAbsoluteSum(BlockKey g, int[] nodePositions, ModelConfig config, double[] absoluteSum) {
        signed.computeIfAbsent(g, k -> new double[absoluteSum.length]);
        double[] a = absolute.computeIfAbsent(g, k -> new double[absoluteSum.length]);
        positions.putIfAbsent(g, nodePositions);
        units.putIfAbsent(g, g.kind().units(config));
        for (int i = 0; i < absoluteSum.length; i++) {
            a[i] += absoluteSum[i];
        }
    }

    /** The blocks: signed values when {@code signedResult}, else means of absolute values. */
    List<EffectBlock> blocks(boolean signedResult) {
        List<EffectBlock> out = new ArrayList<>();
        for (BlockKey g : signed.keySet()) {
            double[] values = (signedResult ? signed : absolute).get(g).clone();
            for (int i = 0; i < values.length; i++) {
                values[i] /= pairs;
            }
            out.add(new EffectBlock(g.kind(), g.layer(), positions.get(g), units.get(g), values));
        }
        return out;
    }

    double cleanMean() {
        return cleanSum / pairs;
    }

    double noiseMean() {
        return noiseSum / pairs;
    }
}
