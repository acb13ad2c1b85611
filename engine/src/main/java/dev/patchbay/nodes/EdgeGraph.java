package dev.patchbay.nodes;

import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.Edge.ReaderKind;
import dev.patchbay.nodes.Edge.WriterKind;
import java.util.ArrayList;
import java.util.List;

/**
 * The edges of one model, in the order results are streamed. Writers are numbered in the order they write: the
 * embeddings, then per layer its heads and its MLP; a reader sees a prefix of them (every writer of earlier layers,
 * and for an MLP in a sequential layer its own layer's heads too), so a reader group's edges are that prefix
 * for each of its readers. Groups run layer by layer: queries, keys, values, the MLP; the logits last.
 */
public final class EdgeGraph {
    /** One kind of reader in one layer (the logits: layer = number of layers): the unit edge results come in. */
    public record Group(ReaderKind kind, int layer, int readers, int writers) {
        /** Edges per position: each reader with each writer upstream of it. */
        public long edges() {
            return (long) readers * writers;
        }

        /** The edge at {@code index} of a block over {@code positions} (null: all positions). */
        public Edge edge(int index, int[] positions, EdgeGraph graph) {
            int perPosition = readers * writers;
            int position = positions == null ? -1 : positions[index / perPosition];
            int within = index % perPosition;
            return new Edge(graph.writer(within % writers), graph.reader(this, within / writers), position);
        }
    }

    private final ModelConfig config;
    private final List<Group> groups = new ArrayList<>();

    public EdgeGraph(ModelConfig config) {
        this.config = config;
        int heads = config.nHeads();
        int kvHeads = config.nKvHeads();
        for (int l = 0; l < config.nLayers(); l++) {
            int before = writersBefore(l);
            groups.add(new Group(ReaderKind.QUERY, l, heads, before));
            groups.add(new Group(ReaderKind.KEY, l, kvHeads, before));
            groups.add(new Group(ReaderKind.VALUE, l, kvHeads, before));
            groups.add(new Group(ReaderKind.MLP, l, 1, config.parallelResidual() ? before : before + heads));
        }
        groups.add(new Group(ReaderKind.LOGITS, config.nLayers(), 1, writers()));
    }

    public List<Group> groups() {
        return groups;
    }

    /** Writers in all: the embeddings and, per layer, each head and the MLP. */
    public int writers() {
        return writersBefore(config.nLayers());
    }

    /** The number of writers in layers before {@code layer}, with the embeddings. */
    public int writersBefore(int layer) {
        return 1 + layer * (config.nHeads() + 1);
    }

    /** Writer number {@code index}. */
    public Edge.Writer writer(int index) {
        if (index == 0) {
            return Edge.Writer.EMBED;
        }
        int layer = (index - 1) / (config.nHeads() + 1);
        int within = (index - 1) % (config.nHeads() + 1);
        return within < config.nHeads()
                ? new Edge.Writer(WriterKind.HEAD, layer, within)
                : new Edge.Writer(WriterKind.MLP, layer, 0);
    }

    /** The number of a writer, in the order above. */
    public int index(Edge.Writer w) {
        return switch (w.kind()) {
            case EMBED -> 0;
            case HEAD -> writersBefore(w.layer()) + w.unit();
            case MLP -> writersBefore(w.layer()) + config.nHeads();
        };
    }

    /** The group of a reader. */
    public Group group(Edge.Reader r) {
        if (r.kind() == ReaderKind.LOGITS) {
            return groups.get(groups.size() - 1);
        }
        int offset = switch (r.kind()) {
            case QUERY -> 0;
            case KEY -> 1;
            case VALUE -> 2;
            default -> 3;
        };
        return groups.get(4 * r.layer() + offset);
    }

    Edge.Reader reader(Group g, int unit) {
        return g.kind() == ReaderKind.LOGITS ? Edge.Reader.LOGITS : new Edge.Reader(g.kind(), g.layer(), unit);
    }

    /** Readers in all: per layer its query heads, key heads, value heads and MLP; the logits. */
    public int readers() {
        return groups.stream().mapToInt(Group::readers).sum();
    }

    /** The number of a reader, in the order of the groups and their units. */
    public int readerIndex(Edge.Reader r) {
        Group target = group(r);
        int index = 0;
        for (Group g : groups) {
            if (g.equals(target)) {
                return index + (r.kind().perHead() ? r.unit() : 0);
            }
            index += g.readers();
        }
        throw new IllegalArgumentException("no reader " + r.name());
    }

    /** Edges per position over the whole model (on a GPT-2-small shape, 32,491). */
    public long edges() {
        return groups.stream().mapToLong(Group::edges).sum();
    }

    /**
     * Refuses an edge the model does not have (a layer, head or position out of range, or a writer that is not
     * upstream of its reader), with a message naming it.
     *
     * @param length the prompts' length, for the position
     */
    public void check(Edge e, int length) {
        String where = "edge " + e.name() + ": ";
        Edge.Writer w = e.writer();
        Edge.Reader r = e.reader();
        int layers = config.nLayers();
        if (w.kind() != WriterKind.EMBED && (w.layer() < 0 || w.layer() >= layers)) {
            throw new IllegalArgumentException(where + "writer layer " + w.layer() + " outside [0, " + layers + ")");
        }
        if (w.kind() == WriterKind.HEAD && (w.unit() < 0 || w.unit() >= config.nHeads())) {
            throw new IllegalArgumentException(
                    where + "writer head " + w.unit() + " outside [0, " + config.nHeads() + ")");
        }
        if (r.kind() != ReaderKind.LOGITS && (r.layer() < 0 || r.layer() >= layers)) {
            throw new IllegalArgumentException(where + "reader layer " + r.layer() + " outside [0, " + layers + ")");
        }
        int units = r.kind() == ReaderKind.QUERY ? config.nHeads() : config.nKvHeads();
        if (r.kind().perHead() && (r.unit() < 0 || r.unit() >= units)) {
            throw new IllegalArgumentException(where + "reader head " + r.unit() + " outside [0, " + units + ")");
        }
        if (index(w) >= group(r).writers()) {
            throw new IllegalArgumentException(where + w.name() + " does not write upstream of " + r.name());
        }
        if (e.position() < -1 || e.position() >= length) {
            throw new IllegalArgumentException(
                    where + "position " + e.position() + " outside the prompt of " + length + " tokens");
        }
    }

    /** The index of {@code e} within its group's block over all positions (per position: add the position's offset). */
    public int indexInGroup(Edge e) {
        Group g = group(e.reader());
        int unit = e.reader().kind().perHead() ? e.reader().unit() : 0;
        return unit * g.writers() + index(e.writer());
    }
}
