package dev.patchbay.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.attribution.diagnostic.EdgeVerification;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeBlock;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.AttributeEdges;
import dev.patchbay.operations.Summary;
import dev.patchbay.passes.PassRunner;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code attribute --edges}: one edge method in-process, the top edges verified by exact edge patching and the
 * diagnostic if asked, printed as a table or JSON and written to a .json or .csv file.
 */
final class EdgeReport {
    private final EdgeResult result;
    private final List<EdgeVerification.Verified> verified;
    private final FalseNegativeDiagnostic.Report<Edge> diagnostic;
    private final Cost total;
    private final boolean magnitudes;

    private EdgeReport(
            EdgeResult result,
            List<EdgeVerification.Verified> verified,
            FalseNegativeDiagnostic.Report<Edge> diagnostic,
            Cost total,
            boolean magnitudes) {
        this.result = result;
        this.verified = verified;
        this.diagnostic = diagnostic;
        this.total = total;
        this.magnitudes = magnitudes;
    }

    /** Runs an {@link AttributeEdges} plan: the method, then verification and the diagnostic as planned. */
    static EdgeReport run(PassRunner runner, AttributeEdges.Plan plan) {
        List<EdgeVerification.Verified> verified = new ArrayList<>();
        List<FalseNegativeDiagnostic.Report<Edge>> report = new ArrayList<>();
        Cost[] total = {Cost.NONE};
        boolean[] magnitudes = {false};
        EdgeResult result = AttributeEdges.run(runner, plan, new AttributeEdges.Events() {
            @Override
            public void accepted(Accepted accepted) {}

            @Override
            public void block(EdgeBlock block) {}

            @Override
            public void progress(String stage, long done, long total) {}

            @Override
            public void verified(EdgeVerification.Verified v) {
                verified.add(v);
            }

            @Override
            public void diagnostic(FalseNegativeDiagnostic.Report<Edge> r) {
                report.add(r);
            }

            @Override
            public void summary(Summary s) {
                total[0] = s.cost();
                magnitudes[0] = s.magnitudes();
            }
        });
        return new EdgeReport(
                result, List.copyOf(verified), report.isEmpty() ? null : report.get(0), total[0], magnitudes[0]);
    }

    private Cost totalCost() {
        return total;
    }

    void printTable(PrintWriter out, String model, String metric, int top) {
        out.printf(
                "%s on edges of %s: %s%n%d edges%s%n",
                result.method(), model, metric, result.size(), result.pairs() > 1 ? ", mean |effect| over pairs" : "");
        Cost total = totalCost();
        out.printf(
                "metric: clean %.4f, noise %.4f; cost %.1f forward passes (%.1f of compute), %.2f s%n",
                result.cleanMetric(),
                result.noiseMetric(),
                total.forwardPasses(),
                total.computeEquivalents(),
                total.wallSeconds());
        Map<Edge, Double> effects = effects();
        out.printf("%-6s %-28s %12s%s%n", "rank", "edge", "estimate", effects.isEmpty() ? "" : "  verified effect");
        List<EdgeResult.Scored> ranked = result.top(top);
        for (int i = 0; i < ranked.size(); i++) {
            Double effect = effects.get(ranked.get(i).edge());
            out.printf(
                    "%-6d %-28s %12.5f%s%n",
                    i + 1,
                    ranked.get(i).edge().name(),
                    ranked.get(i).estimate(),
                    effect == null ? "" : String.format(Locale.ROOT, " %16.5f", effect));
        }
        if (diagnostic != null) {
            out.printf(
                    "diagnostic: %d unverified edges, largest upper bound %.4f (threshold %.4f); verify next: %s%n",
                    diagnostic.nodes(),
                    diagnostic.maxUpperBound(),
                    diagnostic.threshold(),
                    diagnostic.flagged().isEmpty()
                            ? "none"
                            : diagnostic.flagged().stream()
                                    .map(b -> b.item().name())
                                    .toList());
        }
    }

    String json() {
        JsonObject o = new JsonObject();
        o.addProperty("method", result.method());
        o.addProperty("metric", result.metric());
        o.addProperty("pairs", result.pairs());
        o.addProperty("clean_metric", result.cleanMetric());
        o.addProperty("noise_metric", result.noiseMetric());
        Cost total = totalCost();
        JsonObject cost = new JsonObject();
        cost.addProperty("forward_passes", total.forwardPasses());
        cost.addProperty("compute_forward_equivalents", total.computeEquivalents());
        cost.addProperty("wall_seconds", total.wallSeconds());
        o.add("cost", cost);
        JsonObject scores = new JsonObject();
        for (EdgeBlock b : result.blocks()) {
            for (int i = 0; i < b.size(); i++) {
                scores.addProperty(b.edge(i, result.graph()).name(), b.value(i));
            }
        }
        o.add("edges", scores);
        JsonArray checked = new JsonArray();
        for (EdgeVerification.Verified v : verified) {
            JsonObject one = new JsonObject();
            one.addProperty("rank", v.rank());
            one.addProperty("edge", v.edge().name());
            one.addProperty("estimate", v.estimate());
            one.addProperty("effect", v.effect());
            checked.add(one);
        }
        o.add("verified", checked);
        if (diagnostic != null) {
            JsonObject d = new JsonObject();
            d.addProperty("edges", diagnostic.nodes());
            d.addProperty("threshold", diagnostic.threshold());
            d.addProperty("max_upper_bound", diagnostic.maxUpperBound());
            d.addProperty("expected_missed", diagnostic.expectedMissed());
            JsonArray flagged = new JsonArray();
            diagnostic.flagged().forEach(b -> flagged.add(b.item().name()));
            d.add("flagged", flagged);
            o.add("diagnostic", d);
        }
        return new GsonBuilder().serializeSpecialFloatingPointValues().create().toJson(o);
    }

    /** The command's JSON (.json), or one row per edge, largest |estimate| first (.csv). */
    /** Writes a .json, .csv or .html file; the report names the model and its metric, and draws its layers. */
    void write(Path file, String model, String metric, ModelConfig config) throws IOException {
        if (file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".html")) {
            HtmlReport.Run run = new HtmlReport.Run(
                    model,
                    result.method(),
                    metric,
                    result.pairs(),
                    result.cleanMetric(),
                    result.noiseMetric(),
                    total,
                    magnitudes);
            HtmlReport.write(
                    file, HtmlReport.edges(run, result, verified, diagnostic, config.nHeads(), config.nLayers()));
            return;
        }
        if (file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".json")) {
            Files.writeString(file, json() + System.lineSeparator());
            return;
        }
        Map<Edge, Double> effects = effects();
        try (BufferedWriter w = Files.newBufferedWriter(file)) {
            w.write("edge,writer,reader,position,estimate,verified_effect");
            w.newLine();
            for (EdgeResult.Scored s : result.top(result.size())) {
                Double effect = effects.get(s.edge());
                Edge e = s.edge();
                w.write(e.name() + "," + e.writer().name() + "," + e.reader().name() + "," + e.position() + ","
                        + s.estimate() + "," + (effect == null ? "" : effect.toString()));
                w.newLine();
            }
        }
    }

    private Map<Edge, Double> effects() {
        Map<Edge, Double> effects = new HashMap<>();
        verified.forEach(v -> effects.put(v.edge(), v.effect()));
        return effects;
    }
}
