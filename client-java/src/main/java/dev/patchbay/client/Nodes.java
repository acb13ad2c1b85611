package dev.patchbay.client;

import dev.patchbay.proto.v1.Edge;
import dev.patchbay.proto.v1.FeatureNode;
import dev.patchbay.proto.v1.Node;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.NodeSet;
import dev.patchbay.proto.v1.ReaderKind;
import dev.patchbay.proto.v1.WriterKind;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Node sets by what researchers call them. */
public final class Nodes {
    private Nodes() {}

    /** Each head's output over all positions (L9H6). */
    public static NodeSet heads() {
        return NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
    }

    /** AttentionNodes: every head's query, key, value and output at every position. */
    public static NodeSet attention() {
        return NodeSet.newBuilder()
                .addAllKinds(List.of(NodeKind.QUERY, NodeKind.KEY, NodeKind.VALUE, NodeKind.HEAD_OUTPUT))
                .setPerPosition(true)
                .build();
    }

    /** NeuronNodes: every MLP neuron at every position. */
    public static NodeSet neurons() {
        return NodeSet.newBuilder()
                .addKinds(NodeKind.NEURON)
                .setPerPosition(true)
                .build();
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

    private static final String NUMBER = "(0|[1-9][0-9]*)";
    private static final Pattern NAME = Pattern.compile("L" + NUMBER + "(?:H" + NUMBER + "(?:\\.([qkvz]))?|N" + NUMBER
            + "|\\.(attn|mlp|resid))(?:@" + NUMBER + ")?");

    /**
     * Parses a node name in the grammar of proto/NODE-NAMES.md ({@code L9H6}, {@code L9H6.q@12},
     * {@code L3N1024@7}, {@code L5.attn}, {@code L5.resid@7}, ...) into the message requests use.
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
            NodeKind kind;
            int unit = 0;
            if (m.group(2) != null) {
                unit = Integer.parseInt(m.group(2));
                kind = m.group(3) == null
                        ? NodeKind.HEAD_OUTPUT
                        : switch (m.group(3)) {
                            case "q" -> NodeKind.QUERY;
                            case "k" -> NodeKind.KEY;
                            case "v" -> NodeKind.VALUE;
                            default -> NodeKind.HEAD_OUTPUT;
                        };
            } else if (m.group(4) != null) {
                unit = Integer.parseInt(m.group(4));
                kind = NodeKind.NEURON;
            } else {
                kind = switch (m.group(5)) {
                    case "attn" -> NodeKind.ATTN_OUT;
                    case "mlp" -> NodeKind.MLP_OUT;
                    default -> NodeKind.RESIDUAL;
                };
            }
            return Node.newBuilder()
                    .setKind(kind)
                    .setLayer(layer)
                    .setUnit(unit)
                    .setPosition(position)
                    .setName(name(kind, layer, unit, position))
                    .build();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a node name: '" + name + "' (a number is too large)", e);
        }
    }

    /** A node's canonical name (proto/NODE-NAMES.md), as the server writes it. */
    public static String name(NodeKind kind, int layer, int unit, int position) {
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

    private static final Pattern FEATURE = Pattern.compile("L" + NUMBER
            + "\\.(resid_pre|resid_mid|resid_post|attn_out|mlp_out|z|mlp_post)\\.(?:f" + NUMBER + "|(err))(?:@" + NUMBER
            + ")?");

    /**
     * Parses a feature node's name in the grammar of proto/NODE-NAMES.md ({@code L6.resid_pre.f1234@7}, the error
     * term {@code L6.resid_pre.err@7}, feature -1) into the message results use.
     *
     * @throws IllegalArgumentException naming the text if it is not a feature node's name
     */
    public static FeatureNode parseFeature(String name) {
        Matcher m = FEATURE.matcher(name);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a feature node name: '" + name + "' (see proto/NODE-NAMES.md)");
        }
        try {
            int layer = Integer.parseInt(m.group(1));
            int feature = m.group(4) != null ? -1 : Integer.parseInt(m.group(3));
            int position = m.group(5) == null ? -1 : Integer.parseInt(m.group(5));
            return FeatureNode.newBuilder()
                    .setLayer(layer)
                    .setSite(m.group(2))
                    .setFeature(feature)
                    .setPosition(position)
                    .setName(featureName(layer, m.group(2), feature, position))
                    .build();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a feature node name: '" + name + "' (a number is too large)", e);
        }
    }

    /** A feature node's canonical name; feature -1 is the error term. */
    public static String featureName(int layer, String site, int feature, int position) {
        return "L" + layer + "." + site + "." + (feature < 0 ? "err" : "f" + feature)
                + (position < 0 ? "" : "@" + position);
    }

    private static final Pattern EDGE = Pattern.compile("(?:(embed)|L" + NUMBER + "(?:H" + NUMBER + "|\\.(mlp)))->"
            + "(?:(logits)|L" + NUMBER + "(?:H" + NUMBER + "\\.([qkv])|\\.(mlp)))(?:@" + NUMBER + ")?");

    /**
     * Parses an edge name in the grammar of proto/NODE-NAMES.md ({@code L3H2->L5H1.q}, {@code embed->L0.mlp},
     * {@code L4.mlp->logits@7}) into the message results use.
     *
     * @throws IllegalArgumentException naming the text if it is not an edge name
     */
    public static Edge parseEdge(String name) {
        Matcher m = EDGE.matcher(name);
        if (!m.matches()) {
            throw new IllegalArgumentException("not an edge name: '" + name + "' (see proto/NODE-NAMES.md)");
        }
        try {
            Edge.Builder e = Edge.newBuilder().setName(name);
            if (m.group(1) != null) {
                e.setWriterKind(WriterKind.WRITER_EMBED);
            } else if (m.group(3) != null) {
                e.setWriterKind(WriterKind.WRITER_HEAD)
                        .setWriterLayer(Integer.parseInt(m.group(2)))
                        .setWriterUnit(Integer.parseInt(m.group(3)));
            } else {
                e.setWriterKind(WriterKind.WRITER_MLP).setWriterLayer(Integer.parseInt(m.group(2)));
            }
            if (m.group(5) != null) {
                e.setReaderKind(ReaderKind.READER_LOGITS);
            } else if (m.group(7) != null) {
                e.setReaderKind(
                                switch (m.group(8)) {
                                    case "q" -> ReaderKind.READER_QUERY;
                                    case "k" -> ReaderKind.READER_KEY;
                                    default -> ReaderKind.READER_VALUE;
                                })
                        .setReaderLayer(Integer.parseInt(m.group(6)))
                        .setReaderUnit(Integer.parseInt(m.group(7)));
            } else {
                e.setReaderKind(ReaderKind.READER_MLP).setReaderLayer(Integer.parseInt(m.group(6)));
            }
            return e.setPosition(m.group(10) == null ? -1 : Integer.parseInt(m.group(10)))
                    .build();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not an edge name: '" + name + "' (a number is too large)", e);
        }
    }

    /** An edge's canonical name (proto/NODE-NAMES.md), as the server writes it. */
    public static String edgeName(Edge e) {
        String writer = switch (e.getWriterKind()) {
            case WRITER_EMBED -> "embed";
            case WRITER_HEAD -> "L" + e.getWriterLayer() + "H" + e.getWriterUnit();
            default -> "L" + e.getWriterLayer() + ".mlp";
        };
        String reader = switch (e.getReaderKind()) {
            case READER_QUERY -> "L" + e.getReaderLayer() + "H" + e.getReaderUnit() + ".q";
            case READER_KEY -> "L" + e.getReaderLayer() + "H" + e.getReaderUnit() + ".k";
            case READER_VALUE -> "L" + e.getReaderLayer() + "H" + e.getReaderUnit() + ".v";
            case READER_MLP -> "L" + e.getReaderLayer() + ".mlp";
            default -> "logits";
        };
        return writer + "->" + reader + (e.getPosition() < 0 ? "" : "@" + e.getPosition());
    }
}
