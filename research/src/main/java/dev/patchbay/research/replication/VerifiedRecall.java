package dev.patchbay.research.replication;

import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.nodes.Node;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The paper's evaluation (docs/spec/atp-spec.md section 7): a method spends an up-front cost, then nodes are verified
 * by activation patching in its order; cost(k) is the forward passes spent when all of the true top k are verified. An
 * oracle's cost is k.
 */
public final class VerifiedRecall {
    private VerifiedRecall() {}

    /**
     * The true top nodes by |ground-truth effect|, at most {@code maxK}, leaving out effects at or below
     * {@code relativeFloor} times the largest: nodes a patch does not change at all (positions before the
     * first token where clean and noise differ) have no order among themselves.
     */
    public static List<AttributionResult.Scored> trueTop(
            AttributionResult groundTruth, int maxK, double relativeFloor) {
        List<AttributionResult.Scored> ranked = groundTruth.ranked();
        double floor = relativeFloor * Math.abs(ranked.get(0).estimate());
        int k = 0;
        while (k < Math.min(maxK, ranked.size()) && Math.abs(ranked.get(k).estimate()) > floor) {
            k++;
        }
        return ranked.subList(0, k);
    }

    /** Each node's 1-based place in a verification order. */
    public static Map<Node, Long> places(List<AttributionResult.Scored> order) {
        return placesOf(order.stream().map(AttributionResult.Scored::node).toList());
    }

    /** Each item's (node's or edge's) 1-based place in a verification order. */
    public static <T> Map<T, Long> placesOf(List<T> order) {
        Map<T, Long> places = new HashMap<>();
        for (int i = 0; i < order.size(); i++) {
            places.put(order.get(i), i + 1L);
        }
        return places;
    }

    /**
     * cost(k) for k = 1 .. top.size(): {@code upFront} plus the largest place among the true top k, where a
     * node's place is the verification cost spent when it is verified.
     */
    public static double[] cost(List<AttributionResult.Scored> top, Map<Node, Long> places, double upFront) {
        return costOf(top.stream().map(AttributionResult.Scored::node).toList(), places, upFront);
    }

    /** {@link #cost} for any items (nodes or edges): the true top ones, in order, and their places. */
    public static <T> double[] costOf(List<T> top, Map<T, Long> places, double upFront) {
        double[] cost = new double[top.size()];
        long worst = 0;
        for (int k = 0; k < top.size(); k++) {
            Long place = places.get(top.get(k));
            if (place == null) {
                throw new IllegalArgumentException(top.get(k) + " is never verified");
            }
            worst = Math.max(worst, place);
            cost[k] = upFront + worst;
        }
        return cost;
    }

    /**
     * The inverse-rank-weighted geometric mean of cost(k)/k: exp(sum_k (1/k) log(cost(k)/k) / sum_k 1/k). 1
     * for the oracle; a method that needs twice the oracle's passes at every k scores 2.
     */
    public static double relativeCost(double[] cost) {
        double weighted = 0;
        double weights = 0;
        for (int k = 1; k <= cost.length; k++) {
            weighted += Math.log(cost[k - 1] / k) / k;
            weights += 1.0 / k;
        }
        return Math.exp(weighted / weights);
    }

    /** The geometric mean, per k, of several runs' curves (random orders over seeds). */
    public static double[] geometricMean(List<double[]> curves) {
        double[] mean = new double[curves.get(0).length];
        for (double[] c : curves) {
            for (int k = 0; k < mean.length; k++) {
                mean[k] += Math.log(c[k]) / curves.size();
            }
        }
        for (int k = 0; k < mean.length; k++) {
            mean[k] = Math.exp(mean[k]);
        }
        return mean;
    }
}
