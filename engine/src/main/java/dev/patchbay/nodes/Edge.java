package dev.patchbay.nodes;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One edge of the residual-stream graph: what a writer (the embeddings, one head's output, one MLP's output) adds to
 * the residual stream, as read by one reader (one head's query, key or value input, one MLP's input, or the final
 * logits), over all positions ({@code position} -1) or at one. Named from node names in the grammar of
 * proto/NODE-NAMES.md: {@code L3H2->L5H1.q}, {@code embed->L0.mlp}, {@code L4.mlp->logits}, {@code L0H1->L2H0.v@7}.
 */
public record Edge(Writer writer, Reader reader, int position) {
    /** What writes to the residual stream. */
    public enum WriterKind {
        EMBED,
        HEAD,
        MLP
    }

    /** What reads a private copy of it. */
    public enum ReaderKind {
        QUERY("q"),
        KEY("k"),
        VALUE("v"),
        MLP("mlp"),
        LOGITS("logits");

        private final String id;

        ReaderKind(String id) {
            this.id = id;
        }

        public String id() {
            return id;
        }

        /** Whether readers of this kind are one per head (per key/value head for keys and values). */
        public boolean perHead() {
            return this == QUERY || this == KEY || this == VALUE;
        }
    }

    /** A writer: the embeddings (layer and unit 0), head {@code unit} of a layer, or a layer's MLP (unit 0). */
    public record Writer(WriterKind kind, int layer, int unit) {
        public static final Writer EMBED = new Writer(WriterKind.EMBED, 0, 0);

        public String name() {
            return switch (kind) {
                case EMBED -> "embed";
                case HEAD -> "L" + layer + "H" + unit;
                case MLP -> "L" + layer + ".mlp";
            };
        }
    }

    /** A reader: a head's query, key or value input (unit: the head), a layer's MLP input, or the logits. */
    public record Reader(ReaderKind kind, int layer, int unit) {
        public static final Reader LOGITS = new Reader(ReaderKind.LOGITS, 0, 0);

        public String name() {
            return switch (kind) {
                case QUERY, KEY, VALUE -> "L" + layer + "H" + unit + "." + kind.id();
                case MLP -> "L" + layer + ".mlp";
                case LOGITS -> "logits";
            };
        }
    }

    private static final String NUMBER = "(0|[1-9][0-9]*)";
    private static final Pattern NAME = Pattern.compile("(?:(embed)|L" + NUMBER + "(?:H" + NUMBER + "|\\.(mlp)))->"
            + "(?:(logits)|L" + NUMBER + "(?:H" + NUMBER + "\\.([qkv])|\\.(mlp)))(?:@" + NUMBER + ")?");

    /**
     * Parses an edge name; whether its layers, units and position exist, and whether the writer lies upstream of
     * the reader, is the model's to say.
     *
     * @throws IllegalArgumentException naming the text if it is not an edge name
     */
    public static Edge parse(String name) {
        Matcher m = NAME.matcher(name);
        if (!m.matches()) {
            throw new IllegalArgumentException("not an edge name: '" + name + "' (see proto/NODE-NAMES.md)");
        }
        try {
            Writer writer;
            if (m.group(1) != null) {
                writer = Writer.EMBED;
            } else if (m.group(3) != null) {
                writer = new Writer(WriterKind.HEAD, Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
            } else {
                writer = new Writer(WriterKind.MLP, Integer.parseInt(m.group(2)), 0);
            }
            Reader reader;
            if (m.group(5) != null) {
                reader = Reader.LOGITS;
            } else if (m.group(7) != null) {
                ReaderKind kind = switch (m.group(8)) {
                    case "q" -> ReaderKind.QUERY;
                    case "k" -> ReaderKind.KEY;
                    default -> ReaderKind.VALUE;
                };
                reader = new Reader(kind, Integer.parseInt(m.group(6)), Integer.parseInt(m.group(7)));
            } else {
                reader = new Reader(ReaderKind.MLP, Integer.parseInt(m.group(6)), 0);
            }
            int position = m.group(10) == null ? -1 : Integer.parseInt(m.group(10));
            return new Edge(writer, reader, position);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not an edge name: '" + name + "' (a number is too large)", e);
        }
    }

    /** The canonical name, which {@link #parse} reads back to this edge. */
    public String name() {
        return writer.name() + "->" + reader.name() + (position < 0 ? "" : "@" + position);
    }

    @Override
    public String toString() {
        return name();
    }
}
