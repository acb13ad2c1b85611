package dev.patchbay.attribution;

import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.EffectBlock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Gathers a method's estimates into blocks: a single pair's signed values as they came, or over a distribution
 * the mean of per-pair absolute values (eq. 5: the absolute value inside the expectation), summed where they were
 * computed; and the clean and noise metric means.
 */
final class Aggregate {
    private final int pairs;
    /** Per group: the single pair's estimates, or the distribution's sums of |estimate|. */
    private final Map<BlockKey, double[]> values = new LinkedHashMap<>();

    private final Map<BlockKey, int[]> positions = new LinkedHashMap<>();
    private final Map<BlockKey, Integer> units = new LinkedHashMap<>();
    private double cleanSum;
    private double noiseSum;
    private boolean taken;

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

    /**
     * The estimates of one group for the only pair, kept as they are: a pair's per-position estimates are megabytes
     * (2.4 million values on GPT-2 small at 64 tokens), and a sweep returns one such result per pair.
     */
    void single(BlockKey g, int[] nodePositions, ModelConfig config, double[] estimates) {
        if (pairs != 1 || values.containsKey(g)) {
            throw new IllegalStateException("one pair's estimates of " + g + " for an aggregate of " + pairs);
        }
        values.put(g, estimates);
        positions.put(g, nodePositions);
        units.put(g, g.kind().units(config));
    }

    /** Adds a sum of absolute estimates over some pairs, summed where they were computed. */
    void addAbsoluteSum(BlockKey g, int[] nodePositions, ModelConfig config, double[] absoluteSum) {
        double[] a = values.computeIfAbsent(g, k -> new double[absoluteSum.length]);
        positions.putIfAbsent(g, nodePositions);
        units.putIfAbsent(g, g.kind().units(config));
        for (int i = 0; i < absoluteSum.length; i++) {
            a[i] += absoluteSum[i];
        }
    }

    /**
     * The blocks, once (they take over the arrays): for a single pair its estimates, signed when {@code signedResult}
     * and else their absolute values; for a distribution the means of absolute values.
     */
    List<EffectBlock> blocks(boolean signedResult) {
        if (taken) {
            throw new IllegalStateException("the blocks were taken already");
        }
        taken = true;
        List<EffectBlock> out = new ArrayList<>();
        for (Map.Entry<BlockKey, double[]> e : values.entrySet()) {
            BlockKey g = e.getKey();
            double[] v = e.getValue();
            if (pairs == 1) {
                if (!signedResult) {
                    for (int i = 0; i < v.length; i++) {
                        v[i] = Math.abs(v[i]);
                    }
                }
            } else {
                for (int i = 0; i < v.length; i++) {
                    v[i] /= pairs;
                }
            }
            out.add(new EffectBlock(g.kind(), g.layer(), positions.get(g), units.get(g), v));
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
