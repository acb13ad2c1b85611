package dev.patchbay.features;

import dev.patchbay.nodes.Cost;
import java.util.List;
import java.util.Map;

/**
 * AtP over the features of some dictionaries, per pair: for each dictionary a sparse block (only features whose
 * activation differs between the clean and the noise run can have a nonzero estimate, so only those are listed) and
 * its error node's estimate at every position.
 *
 * @param pairs one per prompt pair, in order
 */
public record FeatureEstimates(List<Pair> pairs, Cost cost) {
    /** One pair's estimates, by dictionary name. */
    public record Pair(double cleanMetric, double noiseMetric, Map<String, Block> byDictionary) {}

    /**
     * A dictionary's estimates for one pair: entry e is feature {@code features[e]} at position {@code positions[e]}
     * with estimate {@code estimates[e]}, in order of position, then feature.
     *
     * @param errors the error node's estimate at each position of the pair's prompt
     */
    public record Block(int[] positions, int[] features, double[] estimates, double[] errors) {
        public int size() {
            return positions.length;
        }
    }
}
