package dev.patchbay.nodes;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One node: a unit of a hook site in a layer, at a position or over all positions ({@code position} -1).
 * Named as researchers write them, in the grammar of proto/NODE-NAMES.md: {@code L9H6} (a head's output over
 * all positions), {@code L9H6.q@12} (its query at position 12), {@code L3N1024@7} (a neuron), {@code L5.attn}
 * and {@code L5.mlp} (layer outputs), {@code L5.resid@7} (the residual stream entering layer 5 at position 7).
 */
public record Node(NodeKind kind, int layer, int unit, int position) {
    private static final String NUMBER = "(0|[1-9][0-9]*)";
    private static final Pattern NAME = Pattern.compile("L" + NUMBER + "(?:H" + NUMBER + "(?:\\.([qkvz]))?|N" + NUMBER
            + "|\\.(attn|mlp|resid))(?:@" + NUMBER + ")?");

    /**
     * Parses a node name ({@code L9H6.z} is read as {@code L9H6}); whether its layer, unit and position exist is
     * the model's to say.
     *
     * @throws IllegalArgumentException naming the text if it is not a node name
     */
    public static Node parse(String name) {
        Matcher m = NAME.matcher(name);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a node name: '" + name + "' (see proto/NODE-NAMES.md)");
        }
        try {
            int layer = Integer.parseInt(m.group(1));
            int position = m.group(6) == null ? -1 : Integer.parseInt(m.group(6));
            if (m.group(2) != null) {
                NodeKind kind = m.group(3) == null
                        ? NodeKind.HEAD_OUTPUT
                        : switch (m.group(3)) {
                            case "q" -> NodeKind.QUERY;
                            case "k" -> NodeKind.KEY;
                            case "v" -> NodeKind.VALUE;
                            default -> NodeKind.HEAD_OUTPUT;
                        };
                return new Node(kind, layer, Integer.parseInt(m.group(2)), position);
            }
            if (m.group(4) != null) {
                return new Node(NodeKind.NEURON, layer, Integer.parseInt(m.group(4)), position);
            }
            NodeKind whole = switch (m.group(5)) {
                case "attn" -> NodeKind.ATTN_OUT;
                case "mlp" -> NodeKind.MLP_OUT;
                default -> NodeKind.RESIDUAL;
            };
            return new Node(whole, layer, 0, position);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a node name: '" + name + "' (a number is too large)", e);
        }
    }

    /** The canonical name, which {@link #parse} reads back to this node. */
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
