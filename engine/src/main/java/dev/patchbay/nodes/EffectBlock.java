package dev.patchbay.nodes;

/**
 * The effects of all nodes of one kind in one layer, packed: values[t * units + u] for the node of unit u at
 * positions[t], or values[u] when the nodes span all positions ({@code positions} null).
 */
public record EffectBlock(NodeKind kind, int layer, int[] positions, int units, double[] values) {
    public EffectBlock {
        int expected = units * (positions == null ? 1 : positions.length);
        if (values.length != expected) {
            throw new IllegalArgumentException(
                    "block " + kind + " L" + layer + ": " + values.length + " values for " + expected + " nodes");
        }
    }

    public int size() {
        return values.length;
    }

    public Node node(int index) {
        int unit = index % units;
        int position = positions == null ? -1 : positions[index / units];
        return new Node(kind, layer, kind.hasUnits() ? unit : 0, position);
    }

    public double value(int index) {
        return values[index];
    }
}
