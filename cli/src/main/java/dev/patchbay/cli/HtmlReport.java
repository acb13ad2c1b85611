package dev.patchbay.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.attribution.diagnostic.EdgeVerification;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.attribution.diagnostic.Verification;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Node;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * {@code attribute --out report.html}: the interactive report, one self-contained file, from the same page and
 * bundled ECharts as the Python client's {@code run.to_html} (report/, packed into this jar by Maven after
 * report/build.sh). The data it fills in has the Python client's fields.
 */
final class HtmlReport {
    /** The most edges a report carries, as the Python client's {@code report.MAX_EDGES}. */
    static final int MAX_EDGES = 2000;

    private HtmlReport() {}

    /** What every report says about its run. */
    record Run(
            String model,
            String method,
            String metric,
            int pairs,
            double clean,
            double noise,
            Cost cost,
            boolean magnitudes) {}

    static JsonObject nodes(
            Run run,
            AttributionResult result,
            List<Verification.Verified> verified,
            FalseNegativeDiagnostic.Report<Node> diagnostic) {
        JsonObject data = metadata(run, "attribution");
        Map<Node, Double> effects = new HashMap<>();
        verified.forEach(v -> effects.put(v.node(), v.effect()));
        JsonArray nodes = new JsonArray();
        int rank = 0;
        for (AttributionResult.Scored s : result.ranked()) {
            Node n = s.node();
            JsonObject o = new JsonObject();
            o.addProperty("name", n.name());
            o.addProperty("site", n.kind().id());
            o.addProperty("layer", n.layer());
            o.addProperty("unit", n.unit());
            o.addProperty("position", n.position());
            o.addProperty("estimate", s.estimate());
            o.add("verified_effect", number(effects.get(n)));
            o.addProperty("rank", ++rank);
            nodes.add(o);
        }
        data.add("nodes", nodes);
        data.add("edges", new JsonArray());
        data.addProperty("heads_per_layer", 0);
        data.addProperty("n_layers", 0);
        data.add("diagnostic", diagnostic(diagnostic, Node::name));
        return data;
    }

    static JsonObject edges(
            Run run,
            EdgeResult result,
            List<EdgeVerification.Verified> verified,
            FalseNegativeDiagnostic.Report<Edge> diagnostic,
            int headsPerLayer,
            int layers) {
        JsonObject data = metadata(run, "edge attribution");
        Map<Edge, Double> effects = new HashMap<>();
        verified.forEach(v -> effects.put(v.edge(), v.effect()));
        JsonArray edges = new JsonArray();
        int rank = 0;
        for (EdgeResult.Scored s : result.top(MAX_EDGES)) {
            Edge e = s.edge();
            JsonObject o = new JsonObject();
            o.addProperty("name", e.name());
            o.addProperty("writer", e.writer().name());
            o.addProperty("reader", e.reader().name());
            o.addProperty("estimate", s.estimate());
            o.add("verified_effect", number(effects.get(e)));
            o.addProperty("rank", ++rank);
            edges.add(o);
        }
        data.add("nodes", new JsonArray());
        data.add("edges", edges);
        data.addProperty("heads_per_layer", headsPerLayer);
        data.addProperty("n_layers", layers);
        data.add("diagnostic", diagnostic(diagnostic, Edge::name));
        return data;
    }

    /** Writes the page with {@code data}; refuses, naming the step, a jar built without the report's assets. */
    static void write(Path file, JsonObject data) throws IOException {
        String page = asset("template.html");
        // Inside a script element no "</" may close it early; NaN and infinities are not JSON.
        String payload =
                new GsonBuilder().serializeNulls().create().toJson(data).replace("</", "<\\/");
        String title = data.get("title").getAsString().replace("&", "&amp;").replace("<", "&lt;");
        Files.writeString(
                file,
                page.replace("__PATCHBAY_TITLE__", title)
                        .replace("__PATCHBAY_ECHARTS__", asset("echarts.min.js"))
                        .replace("__PATCHBAY_DATA__", payload));
    }

    private static String asset(String name) throws IOException {
        try (InputStream in = HtmlReport.class.getResourceAsStream("/patchbay/report/" + name)) {
            if (in == null) {
                throw new IllegalStateException("--out: this jar was built without the HTML report's " + name
                        + "; run report/build.sh (it installs ECharts from npm), then rebuild (./patchbay does both)");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static JsonObject metadata(Run run, String what) {
        JsonObject o = new JsonObject();
        o.addProperty("title", "Patchbay " + what + ": " + run.method() + " on " + run.model());
        o.addProperty("model", run.model());
        o.addProperty("method", run.method());
        o.addProperty("metric", run.metric());
        o.addProperty("pairs", run.pairs());
        o.addProperty("magnitudes", run.magnitudes());
        o.add("clean_metric", number(run.clean()));
        o.add("noise_metric", number(run.noise()));
        o.add("forward_passes", number(run.cost().forwardPasses()));
        o.add("wall_seconds", number(run.cost().wallSeconds()));
        return o;
    }

    private static <T> JsonObject diagnostic(FalseNegativeDiagnostic.Report<T> r, Function<T, String> name) {
        if (r == null) {
            return null;
        }
        JsonObject o = new JsonObject();
        o.addProperty("count", r.nodes());
        o.add("max_upper_bound", number(r.maxUpperBound()));
        o.add("threshold", number(r.threshold()));
        o.addProperty("alpha", r.alpha());
        o.add("expected_missed", number(r.expectedMissed()));
        JsonArray flagged = new JsonArray();
        for (FalseNegativeDiagnostic.Bound<T> b : r.flagged()) {
            JsonArray pair = new JsonArray();
            pair.add(name.apply(b.item()));
            pair.add(number(b.upperBound()));
            flagged.add(pair);
        }
        o.add("flagged", flagged);
        return o;
    }

    /** A finite number, or null (JSON has no NaN). */
    private static com.google.gson.JsonElement number(Double v) {
        return v == null || !Double.isFinite(v) ? JsonNull.INSTANCE : new JsonPrimitive(v);
    }
}
