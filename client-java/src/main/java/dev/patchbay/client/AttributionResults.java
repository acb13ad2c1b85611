package dev.patchbay.client;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** A finished Attribute call collected into rows, largest |estimate| first, with verified effects joined in. */
public final class AttributionResults {
    /** One node: its estimate and, if it was verified, its exact effect (NaN otherwise). */
    public record Row(
            String name, String site, int layer, int unit, int position, double estimate, double verifiedEffect) {}

    private final List<Row> rows;
    private final AttributionEvent.Accepted accepted;
    private final AttributionEvent.Summary summary;

    private AttributionResults(List<Row> rows, AttributionEvent.Accepted accepted, AttributionEvent.Summary summary) {
        this.rows = rows;
        this.accepted = accepted;
        this.summary = summary;
    }

    /** Reads {@code events} to the end and closes it. */
    public static AttributionResults collect(Stream<AttributionEvent> events) {
        List<NodeEffect> nodes = new ArrayList<>();
        Map<String, Double> verified = new HashMap<>();
        AttributionEvent.Accepted accepted = null;
        AttributionEvent.Summary summary = null;
        try (events) {
            for (AttributionEvent e : (Iterable<AttributionEvent>) events::iterator) {
                if (e instanceof AttributionEvent.Effects fx) {
                    nodes.addAll(fx.nodes());
                } else if (e instanceof AttributionEvent.Verified v) {
                    verified.put(v.node().name(), v.effect());
                } else if (e instanceof AttributionEvent.Accepted a) {
                    accepted = a;
                } else if (e instanceof AttributionEvent.Summary s) {
                    summary = s;
                }
            }
        }
        List<Row> rows = new ArrayList<>();
        for (NodeEffect n : nodes) {
            rows.add(new Row(
                    n.name(),
                    n.site(),
                    n.layer(),
                    n.unit(),
                    n.position(),
                    n.estimate(),
                    verified.getOrDefault(n.name(), Double.NaN)));
        }
        rows.sort(Comparator.comparingDouble((Row r) -> -Math.abs(r.estimate())));
        return new AttributionResults(List.copyOf(rows), accepted, summary);
    }

    public List<Row> rows() {
        return rows;
    }

    /** The {@code k} nodes of largest |estimate|. */
    public List<Row> top(int k) {
        return rows.subList(0, Math.min(k, rows.size()));
    }

    public AttributionEvent.Accepted accepted() {
        return accepted;
    }

    public AttributionEvent.Summary summary() {
        return summary;
    }
}
