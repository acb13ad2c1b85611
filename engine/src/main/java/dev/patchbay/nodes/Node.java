package dev.patchbay.nodes;

/**
 * One node: a unit of a hook site in a layer, at a position or over all positions ({@code position} -1).
 * Named as researchers write them: {@code L9H6} (a head's output over all positions), {@code L9H6.q@12} (its
 * query at position 12), {@code L3N1024@7} (a neuron), {@code L5.attn} and {@code L5.mlp} (layer outputs),
 * {@code L5.resid@7} (the residual stream entering layer 5 at position 7).
 */
public record Node(NodeKind kind, int layer, int unit, int position) {
    public String name() {
        String at = position < 0 ? "" : "@" + position;
        return switch (kind) {
            case HEAD_OUTPUT -> "L" + layer + "H" + unit + (position < 0 ? "" : ".z" + at);
            case QUERY, KEY, VALUE -> "L" + layer + "H" + unit + "." + kind.id() + at;
            case NEURON -> "L" + layer + "N" + unit + at;
            case ATTN_OUT -> "L" + layer + ".attn" + at;
            case MLP_OUT -> "L" + layer + ".mlp" + at;
            case RESIDUAL -> "L" + layer + ".resid" + at;
        };
    }

    @Override
    public String toString() {
        return name();
    }
}
