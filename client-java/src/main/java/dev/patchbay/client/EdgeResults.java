package dev.patchbay.client;

import dev.patchbay.proto.v1.AttributeEdgesEvent;
import dev.patchbay.proto.v1.EdgeBlock;
import dev.patchbay.proto.v1.ReaderKind;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A finished AttributeEdges call collected into rows, largest |estimate| first, with verified effects joined in:
 * the rows of the Python client's {@code EdgeAttribution.to_dataframe()}.
 */
public final class EdgeResults {
    /**
     * One edge: its name ({@code L0H1->L2H0.q}), writer and reader names, the reader's kind (q, k, v, mlp, logits)
     * and layer, position (-1: all), estimate, and the exact effect if it was verified (NaN otherwise).
     */
    public record Row(
            String name,
            String writer,
            String reader,
            String kind,
            int layer,
            int position,
            double estimate,
            double verifiedEffect) {}

    private final List<Row> rows;
    private final AttributeEdgesEvent summary;

    private EdgeResults(List<Row> rows, AttributeEdgesEvent summary) {
        this.rows = rows;
        this.summary = summary;
    }

    /** Reads {@code events} to the end and closes it. */
    public static EdgeResults collect(Stream<AttributeEdgesEvent> events) {
        List<EdgeBlock> blocks = new ArrayList<>();
        Map<String, Double> verified = new HashMap<>();
        AttributeEdgesEvent summary = null;
        try (events) {
            for (AttributeEdgesEvent e : (Iterable<AttributeEdgesEvent>) events::iterator) {
                switch (e.getEventCase()) {
                    case BLOCK -> blocks.add(e.getBlock());
                    case VERIFIED ->
                        verified.put(
                                e.getVerified().getEdge().getName(),
                                e.getVerified().getEffect());
                    case SUMMARY -> summary = e;
                    default -> {}
                }
            }
        }
        List<Row> rows = new ArrayList<>();
        for (EdgeBlock b : blocks) {
            int perPosition = b.getReaders() * b.getWriters();
            float[] values = Values.of(b.getEncoding(), b.getPacked(), b.getValuesList());
            for (int i = 0; i < values.length; i++) {
                int position = b.getPositionsCount() == 0 ? -1 : b.getPositions(i / perPosition);
                String writer = writer(i % b.getWriters(), b.getHeadsPerLayer());
                String reader = reader(b.getReaderKind(), b.getReaderLayer(), (i % perPosition) / b.getWriters());
                String name = writer + "->" + reader + (position < 0 ? "" : "@" + position);
                rows.add(new Row(
                        name,
                        writer,
                        reader,
                        kind(b.getReaderKind()),
                        b.getReaderLayer(),
                        position,
                        values[i],
                        verified.getOrDefault(name, Double.NaN)));
            }
        }
        rows.sort(Comparator.comparingDouble((Row r) -> -Math.abs(r.estimate())));
        return new EdgeResults(List.copyOf(rows), summary);
    }

    /** Every edge, largest |estimate| first. */
    public Stream<Row> rows() {
        return rows.stream();
    }

    /** The {@code k} edges of largest |estimate|. */
    public List<Row> top(int k) {
        return rows.subList(0, Math.min(k, rows.size()));
    }

    /** The Summary event, or null if the call ended without one. */
    public AttributeEdgesEvent summary() {
        return summary;
    }

    /** Writer number {@code w}: embed, then per layer its heads and its MLP. */
    static String writer(int w, int heads) {
        if (w == 0) {
            return "embed";
        }
        int layer = (w - 1) / (heads + 1);
        int within = (w - 1) % (heads + 1);
        return within < heads ? "L" + layer + "H" + within : "L" + layer + ".mlp";
    }

    static String reader(ReaderKind kind, int layer, int unit) {
        return switch (kind) {
            case READER_LOGITS -> "logits";
            case READER_MLP -> "L" + layer + ".mlp";
            default -> "L" + layer + "H" + unit + "." + kind(kind);
        };
    }

    static String kind(ReaderKind kind) {
        return switch (kind) {
            case READER_QUERY -> "q";
            case READER_KEY -> "k";
            case READER_VALUE -> "v";
            case READER_MLP -> "mlp";
            case READER_LOGITS -> "logits";
            default -> kind.name();
        };
    }
}
