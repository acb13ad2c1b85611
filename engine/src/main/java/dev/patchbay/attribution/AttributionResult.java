package dev.patchbay.attribution;

import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

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

    /**
     * The {@code k} nodes with the largest |estimate|, largest first, ties in canonical order: the same as the
     * first k of {@link #ranked()}, found with a heap of k primitive indices instead of a sort of boxed nodes
     * (a request over millions of nodes verifies tens of them).
     */
    public List<Scored> top(int k) {
        int total = blocks.stream().mapToInt(EffectBlock::size).sum();
        k = Math.min(Math.max(k, 0), total);
        if (k == 0) {
            return List.of();
        }
        double[] magnitude = new double[total];
        int[] blockOf = new int[total];
        int[] offset = new int[total];
        int n = 0;
        for (int b = 0; b < blocks.size(); b++) {
            EffectBlock block = blocks.get(b);
            for (int i = 0; i < block.size(); i++, n++) {
                magnitude[n] = Math.abs(block.value(i));
                blockOf[n] = b;
                offset[n] = i;
            }
        }
        int[] order = TopK.indices(magnitude, k);
        List<Scored> out = new ArrayList<>(k);
        for (int index : order) {
            EffectBlock block = blocks.get(blockOf[index]);
            out.add(new Scored(block.node(offset[index]), block.value(offset[index])));
        }
        return out;
    }

    /** Every node not among {@code excluded}, in canonical order (the nodes a verification left). */
    public List<Node> nodesExcept(List<Scored> excluded) {
        Set<Node> skip = new HashSet<>();
        excluded.forEach(s -> skip.add(s.node()));
        List<Node> rest = new ArrayList<>();
        for (EffectBlock b : blocks) {
            for (int i = 0; i < b.size(); i++) {
                Node node = b.node(i);
                if (!skip.contains(node)) {
                    rest.add(node);
                }
            }
        }
        return rest;
    }

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
