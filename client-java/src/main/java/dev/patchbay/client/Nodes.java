package dev.patchbay.client;

import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.NodeSet;
import java.util.List;

/** Node sets by what researchers call them. */
public final class Nodes {
    private Nodes() {}

    /** Each head's output over all positions (L9H6). */
    public static NodeSet heads() {
        return NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
    }

    /** AttentionNodes: every head's query, key, value and output at every position. */
    public static NodeSet attention() {
        return NodeSet.newBuilder().addAllKinds(List.of(NodeKind.QUERY, NodeKind.KEY, NodeKind.VALUE,
                NodeKind.HEAD_OUTPUT)).setPerPosition(true).build();
    }

    /** NeuronNodes: every MLP neuron at every position. */
    public static NodeSet neurons() {
        return NodeSet.newBuilder().addKinds(NodeKind.NEURON).setPerPosition(true).build();
    }

    /** The short name of a node kind, as in node names: q, k, v, z, post, attn_out, mlp_out, resid_pre. */
    static String site(NodeKind kind) {
        return switch (kind) {
            case QUERY -> "q";
            case KEY -> "k";
            case VALUE -> "v";
            case HEAD_OUTPUT -> "z";
            case NEURON -> "post";
            case ATTN_OUT -> "attn_out";
            case MLP_OUT -> "mlp_out";
            case RESIDUAL -> "resid_pre";
            default -> kind.name();
        };
    }

    /** A node's readable name, the server's rule. */
    static String name(NodeKind kind, int layer, int unit, int position) {
        String at = position < 0 ? "" : "@" + position;
        return switch (kind) {
            case HEAD_OUTPUT -> "L" + layer + "H" + unit + (position < 0 ? "" : ".z" + at);
            case QUERY, KEY, VALUE -> "L" + layer + "H" + unit + "." + site(kind) + at;
            case NEURON -> "L" + layer + "N" + unit + at;
            case ATTN_OUT -> "L" + layer + ".attn" + at;
            case MLP_OUT -> "L" + layer + ".mlp" + at;
            default -> "L" + layer + ".resid" + at;
        };
    }
}
