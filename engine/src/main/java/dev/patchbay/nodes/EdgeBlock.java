package dev.patchbay.nodes;

/**
 * The scores of one reader group's edges, packed: values[(t * readers + r) * writers + w] for the edge from writer w
 * into reader r at positions[t], or values[r * writers + w] over all positions ({@code positions} null).
 */
public record EdgeBlock(EdgeGraph.Group group, int[] positions, double[] values) {
    public EdgeBlock {
        long expected = group.edges() * (positions == null ? 1 : positions.length);
        if (values.length != expected) {
            throw new IllegalArgumentException(
                    "edge block " + group + ": " + values.length + " values for " + expected + " edges");
        }
    }

    public int size() {
        return values.length;
    }

    public Edge edge(int index, EdgeGraph graph) {
        return group.edge(index, positions, graph);
    }

    public double value(int index) {
        return values[index];
    }
}
