package dev.patchbay.client;

import dev.patchbay.proto.v1.AttributeFeaturesEvent;
import dev.patchbay.proto.v1.FeatureBlock;
import dev.patchbay.proto.v1.FeatureDiagnostic;
import dev.patchbay.proto.v1.FeatureEdge;
import dev.patchbay.proto.v1.FeatureEdgeBlock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A finished AttributeFeatures call collected into rows: each scored feature or error node with its mean estimate
 * over the pairs (a pair where the feature did not change adds 0), largest |estimate| first, verified effects joined
 * in; the rows of the Python client's {@code FeatureAttribution.to_dataframe()}.
 */
public final class FeatureResults {
    /**
     * One node: its name ({@code L1.resid_pre.f12@3}; {@code L1.resid_pre.err@3} for the error term), dictionary,
     * layer, site, feature (-1: the error term), position, mean estimate, and the exact effect if it was verified
     * (NaN otherwise).
     */
    public record Row(
            String name,
            String dictionary,
            int layer,
            String site,
            int feature,
            int position,
            double estimate,
            double verifiedEffect) {}

    /**
     * One feature edge of one prompt pair: its name ({@code L0.z.f35@6->L1.resid_pre.f41@6}; {@code err} for an error
     * term), the two dictionaries, EAP's estimate, and the exact effect if it was verified (NaN otherwise).
     */
    public record EdgeRow(
            int pair, String upstream, String downstream, String name, double estimate, double verifiedEffect) {}

    private final List<Row> rows;
    private final List<EdgeRow> edges;
    private final List<FeatureDiagnostic> diagnostics;
    private final AttributeFeaturesEvent summary;

    private FeatureResults(
            List<Row> rows, List<EdgeRow> edges, List<FeatureDiagnostic> diagnostics, AttributeFeaturesEvent summary) {
        this.rows = rows;
        this.edges = edges;
        this.diagnostics = diagnostics;
        this.summary = summary;
    }

    /** Reads {@code events} to the end and closes it. */
    public static FeatureResults collect(Stream<AttributeFeaturesEvent> events) {
        Map<String, Row> sums = new LinkedHashMap<>();
        Map<String, Double> verified = new HashMap<>();
        List<FeatureDiagnostic> diagnostics = new ArrayList<>();
        List<EdgeRow> edges = new ArrayList<>();
        Set<Integer> pairs = new HashSet<>();
        AttributeFeaturesEvent summary = null;
        try (events) {
            for (AttributeFeaturesEvent e : (Iterable<AttributeFeaturesEvent>) events::iterator) {
                switch (e.getEventCase()) {
                    case BLOCK -> {
                        FeatureBlock b = e.getBlock();
                        pairs.add(b.getPair());
                        for (int i = 0; i < b.getFeaturesCount(); i++) {
                            add(sums, b, b.getFeatures(i), b.getPositions(i), b.getEstimates(i));
                        }
                        for (int t = 0; t < b.getErrorsCount(); t++) {
                            add(sums, b, -1, t, b.getErrors(t));
                        }
                    }
                    case VERIFIED ->
                        verified.put(
                                e.getVerified().getDictionary() + "/"
                                        + e.getVerified().getNode().getName(),
                                e.getVerified().getEffect());
                    case DIAGNOSTIC -> diagnostics.add(e.getDiagnostic());
                    case EDGES -> {
                        FeatureEdgeBlock b = e.getEdges();
                        for (FeatureEdge edge : b.getEdgesList()) {
                            edges.add(new EdgeRow(
                                    b.getPair(),
                                    b.getUpstream(),
                                    b.getDownstream(),
                                    edge.getName(),
                                    edge.getEstimate(),
                                    edge.getVerified() ? edge.getEffect() : Double.NaN));
                        }
                    }
                    case SUMMARY -> summary = e;
                    default -> {}
                }
            }
        }
        int count = Math.max(1, pairs.size());
        List<Row> rows = new ArrayList<>();
        for (Row r : sums.values()) {
            rows.add(new Row(
                    r.name(),
                    r.dictionary(),
                    r.layer(),
                    r.site(),
                    r.feature(),
                    r.position(),
                    r.estimate() / count,
                    verified.getOrDefault(r.dictionary() + "/" + r.name(), Double.NaN)));
        }
        rows.sort(Comparator.comparingDouble((Row r) -> -Math.abs(r.estimate())));
        return new FeatureResults(List.copyOf(rows), List.copyOf(edges), List.copyOf(diagnostics), summary);
    }

    private static void add(Map<String, Row> sums, FeatureBlock b, int feature, int position, double estimate) {
        String name = Nodes.featureName(b.getLayer(), b.getSite(), feature, position);
        sums.merge(
                b.getDictionary() + "/" + name,
                new Row(name, b.getDictionary(), b.getLayer(), b.getSite(), feature, position, estimate, Double.NaN),
                (old, add) -> new Row(
                        old.name(),
                        old.dictionary(),
                        old.layer(),
                        old.site(),
                        old.feature(),
                        old.position(),
                        old.estimate() + add.estimate(),
                        Double.NaN));
    }

    /** Every scored node, largest |mean estimate| first. */
    public Stream<Row> rows() {
        return rows.stream();
    }

    /** The {@code k} nodes of largest |mean estimate|. */
    public List<Row> top(int k) {
        return rows.subList(0, Math.min(k, rows.size()));
    }

    /** The feature edges asked for ({@code edge_nodes}), each block's largest |estimate| first. */
    public List<EdgeRow> edges() {
        return edges;
    }

    /** Each dictionary's diagnostic, where one was asked for. */
    public List<FeatureDiagnostic> diagnostics() {
        return diagnostics;
    }

    /** The Summary event, or null if the call ended without one. */
    public AttributeFeaturesEvent summary() {
        return summary;
    }
}
