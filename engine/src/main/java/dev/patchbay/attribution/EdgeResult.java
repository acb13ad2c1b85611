package dev.patchbay.attribution;

import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeBlock;
import dev.patchbay.nodes.EdgeGraph;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A method's scores for every edge of a request, with the metric's clean and noise values (means over the pairs)
 * and the cost spent. Signed for one pair where the method is signed (exact patching, EAP, EAP-IG); over a
 * distribution exact patching reports the signed mean effect and the estimates the mean of per-pair magnitudes;
 * AtP* is always a magnitude.
 */
public record EdgeResult(
        String method,
        String metric,
        int pairs,
        double cleanMetric,
        double noiseMetric,
        EdgeGraph graph,
        List<EdgeBlock> blocks,
        Cost cost) {
    /** An edge with its score. */
    public record Scored(Edge edge, double estimate) {}

    /** Every edge's score, in block order. */
    public int size() {
        return blocks.stream().mapToInt(EdgeBlock::size).sum();
    }

    /** The {@code k} edges with the largest |score|, largest first, ties in block order. */
    public List<Scored> top(int k) {
        double[] magnitude = new double[size()];
        int n = 0;
        for (EdgeBlock b : blocks) {
            for (int i = 0; i < b.size(); i++) {
                magnitude[n++] = Math.abs(b.value(i));
            }
        }
        List<Scored> out = new ArrayList<>();
        for (int index : TopK.indices(magnitude, k)) {
            out.add(at(index));
        }
        return out;
    }

    /** Every edge not among {@code excluded}, in block order (the edges a verification left). */
    public List<Edge> edgesExcept(List<Scored> excluded) {
        Set<Edge> skip = new HashSet<>();
        excluded.forEach(s -> skip.add(s.edge()));
        List<Edge> rest = new ArrayList<>();
        for (EdgeBlock b : blocks) {
            for (int i = 0; i < b.size(); i++) {
                Edge e = b.edge(i, graph);
                if (!skip.contains(e)) {
                    rest.add(e);
                }
            }
        }
        return rest;
    }

    /** The score of the edge named {@code name}, e.g. "L0H1->L1H0.q". */
    public double estimate(String name) {
        Edge wanted = Edge.parse(name);
        for (EdgeBlock b : blocks) {
            if (!b.group().equals(graph.group(wanted.reader()))) {
                continue;
            }
            int offset = graph.indexInGroup(wanted);
            if (b.positions() == null) {
                if (wanted.position() < 0) {
                    return b.value(offset);
                }
            } else {
                for (int t = 0; t < b.positions().length; t++) {
                    if (b.positions()[t] == wanted.position()) {
                        return b.value((int) (t * b.group().edges()) + offset);
                    }
                }
            }
        }
        throw new IllegalArgumentException("no edge named " + name);
    }

    private Scored at(int flatIndex) {
        int index = flatIndex;
        for (EdgeBlock b : blocks) {
            if (index < b.size()) {
                return new Scored(b.edge(index, graph), b.value(index));
            }
            index -= b.size();
        }
        throw new IndexOutOfBoundsException(flatIndex);
    }
}
