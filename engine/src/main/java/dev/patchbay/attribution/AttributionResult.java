package dev.patchbay.attribution;

import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A method's estimates for every node of a request, with the metric's clean and noise values (means over the
 * pairs of a distribution) and the cost spent.
 *
 * <p>Estimates are signed for one pair where the method is signed (activation patching, AtP); over a
 * distribution activation patching reports the signed mean effect (c(n) is its absolute value) and the AtP
 * family the mean of per-pair absolute values (eq. 5, 11); AtP* is always unsigned.
 */
public record AttributionResult(
        String method,
        String metric,
        int pairs,
        double cleanMetric,
        double noiseMetric,
        List<EffectBlock> blocks,
        Cost cost) {

    /** A node with its estimate. */
    public record Scored(Node node, double estimate) {}

    /** All nodes, largest |estimate| first. */
    public List<Scored> ranked() {
        List<Scored> all = new ArrayList<>();
        for (EffectBlock b : blocks) {
            for (int i = 0; i < b.size(); i++) {
                all.add(new Scored(b.node(i), b.value(i)));
            }
        }
        all.sort(Comparator.comparingDouble((Scored s) -> -Math.abs(s.estimate())));
        return all;
    }

    /** The estimate of the node named {@code name}, e.g. "L1H3.q@4". */
    public double estimate(String name) {
        for (EffectBlock b : blocks) {
            for (int i = 0; i < b.size(); i++) {
                if (b.node(i).name().equals(name)) {
                    return b.value(i);
                }
            }
        }
        throw new IllegalArgumentException("no node named " + name);
    }
}
