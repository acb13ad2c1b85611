package dev.patchbay.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.patchbay.features.FeatureNode;
import dev.patchbay.nodes.Cost;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.AttributeFeatures;
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
 * {@code attribute --features}: AtP or AtP* over the features and error terms of the dictionaries given with
 * {@code --dictionary}, the top nodes verified by exact feature patching and each dictionary's diagnostic if asked,
 * printed as a table or JSON and written to a .json or .csv file.
 */
final class FeatureReport {
    private final AttributeFeatures.Result result;
    private final List<AttributeFeatures.Diagnostic> diagnostics;
    private final List<AttributeFeatures.EdgeBlock> edges;
    private final Summary summary;

    private FeatureReport(
            AttributeFeatures.Result result,
            List<AttributeFeatures.Diagnostic> diagnostics,
            List<AttributeFeatures.EdgeBlock> edges,
            Summary summary) {
        this.result = result;
        this.diagnostics = diagnostics;
        this.edges = edges;
        this.summary = summary;
    }

    static FeatureReport run(PassRunner runner, AttributeFeatures.Plan plan) {
        List<AttributeFeatures.Diagnostic> diagnostics = new ArrayList<>();
        List<AttributeFeatures.EdgeBlock> edges = new ArrayList<>();
        Summary[] summary = {null};
        AttributeFeatures.Result result = AttributeFeatures.run(runner, plan, new AttributeFeatures.Events() {
            @Override
            public void accepted(Accepted accepted) {}

            @Override
            public void block(AttributeFeatures.Block block) {}

            @Override
            public void progress(String stage, long done, long total) {}

            @Override
            public void verified(AttributeFeatures.Verified verified) {}

            @Override
            public void diagnostic(AttributeFeatures.Diagnostic diagnostic) {
                diagnostics.add(diagnostic);
            }

            @Override
            public void edges(AttributeFeatures.EdgeBlock block) {
                edges.add(block);
            }

            @Override
            public void summary(Summary s) {
                summary[0] = s;
            }
        });
        return new FeatureReport(result, List.copyOf(diagnostics), List.copyOf(edges), summary[0]);
    }

    private Map<String, Double> effects() {
        Map<String, Double> effects = new HashMap<>();
        result.verified()
                .forEach(v -> effects.put(v.dictionary() + "/" + v.node().name(), v.effect()));
        return effects;
    }

    void printTable(PrintWriter out, String model, String metric, int top) {
        out.printf(
                "%s on the features of %s: %s%n%d scored feature and error nodes%s%n",
                summary.method(),
                model,
                metric,
                result.scored().size(),
                summary.pairs() > 1 ? ", mean over pairs" : "");
        Cost cost = summary.cost();
        out.printf(
                "metric: clean %.4f, noise %.4f; cost %.1f forward passes (%.1f of compute), %.2f s%n",
                summary.cleanMetric(),
                summary.noiseMetric(),
                cost.forwardPasses(),
                cost.computeEquivalents(),
                cost.wallSeconds());
        Map<String, Double> effects = effects();
        out.printf(
                "%-6s %-28s %-16s %12s%s%n",
                "rank", "node", "dictionary", "estimate", effects.isEmpty() ? "" : "  verified effect");
        List<AttributeFeatures.Scored> ranked =
                result.scored().subList(0, Math.min(top, result.scored().size()));
        for (int i = 0; i < ranked.size(); i++) {
            AttributeFeatures.Scored s = ranked.get(i);
            Double effect = effects.get(s.dictionary() + "/" + s.node().name());
            out.printf(
                    "%-6d %-28s %-16s %12.5f%s%n",
                    i + 1,
                    s.node().name(),
                    s.dictionary(),
                    s.estimate(),
                    effect == null ? "" : String.format(Locale.ROOT, " %16.5f", effect));
        }
        for (AttributeFeatures.EdgeBlock b : edges) {
            out.printf(
                    "feature edges, pair %d, %s -> %s (into %d downstream features), largest first:%n",
                    b.pair(),
                    b.edges().upstreamDictionary(),
                    b.edges().downstreamDictionary(),
                    b.edges().downstream().size());
            for (int i = 0; i < Math.min(top, b.edges().edges().size()); i++) {
                double effect = b.effects()[i];
                out.printf(
                        "  %-44s %12.5f%s%n",
                        b.edges().edges().get(i).name(),
                        b.edges().edges().get(i).estimate(),
                        Double.isNaN(effect) ? "" : String.format(Locale.ROOT, " %16.5f", effect));
            }
        }
        for (AttributeFeatures.Diagnostic d : diagnostics) {
            out.printf(
                    "diagnostic (%s): %d unverified nodes, largest upper bound %.4f (threshold %.4f); %d to verify"
                            + " next%s%n",
                    d.dictionary(),
                    d.report().nodes(),
                    d.report().maxUpperBound(),
                    d.report().threshold(),
                    d.report().flagged().size(),
                    d.report().flagged().isEmpty()
                            ? ""
                            : ", largest bounds first: "
                                    + d.report().flagged().stream()
                                            .limit(10)
                                            .map(b -> b.item().name())
                                            .toList()
                                    + (d.report().flagged().size() > 10 ? " ..." : ""));
        }
    }

    String json() {
        JsonObject o = new JsonObject();
        o.addProperty("method", summary.method());
        o.addProperty("pairs", summary.pairs());
        o.addProperty("clean_metric", summary.cleanMetric());
        o.addProperty("noise_metric", summary.noiseMetric());
        o.addProperty("magnitudes", summary.magnitudes());
        JsonObject cost = new JsonObject();
        cost.addProperty("forward_passes", summary.cost().forwardPasses());
        cost.addProperty("compute_forward_equivalents", summary.cost().computeEquivalents());
        cost.addProperty("wall_seconds", summary.cost().wallSeconds());
        o.add("cost", cost);
        JsonObject byDictionary = new JsonObject();
        for (AttributeFeatures.Scored s : result.scored()) {
            if (!byDictionary.has(s.dictionary())) {
                byDictionary.add(s.dictionary(), new JsonObject());
            }
            byDictionary.getAsJsonObject(s.dictionary()).addProperty(s.node().name(), s.estimate());
        }
        o.add("features", byDictionary);
        JsonArray checked = new JsonArray();
        for (AttributeFeatures.Verified v : result.verified()) {
            JsonObject one = new JsonObject();
            one.addProperty("rank", v.rank());
            one.addProperty("dictionary", v.dictionary());
            one.addProperty("node", v.node().name());
            one.addProperty("estimate", v.estimate());
            one.addProperty("effect", v.effect());
            checked.add(one);
        }
        o.add("verified", checked);
        JsonArray bounds = new JsonArray();
        for (AttributeFeatures.Diagnostic d : diagnostics) {
            JsonObject one = new JsonObject();
            one.addProperty("dictionary", d.dictionary());
            one.addProperty("nodes", d.report().nodes());
            one.addProperty("threshold", d.report().threshold());
            one.addProperty("max_upper_bound", d.report().maxUpperBound());
            one.addProperty("expected_missed", d.report().expectedMissed());
            JsonArray flagged = new JsonArray();
            d.report().flagged().forEach(b -> flagged.add(b.item().name()));
            one.add("flagged", flagged);
            bounds.add(one);
        }
        o.add("diagnostics", bounds);
        JsonArray edgeBlocks = new JsonArray();
        for (AttributeFeatures.EdgeBlock b : edges) {
            JsonObject one = new JsonObject();
            one.addProperty("pair", b.pair());
            one.addProperty("upstream", b.edges().upstreamDictionary());
            one.addProperty("downstream", b.edges().downstreamDictionary());
            JsonObject estimates = new JsonObject();
            JsonObject effects = new JsonObject();
            for (int i = 0; i < b.edges().edges().size(); i++) {
                String name = b.edges().edges().get(i).name();
                estimates.addProperty(name, b.edges().edges().get(i).estimate());
                if (!Double.isNaN(b.effects()[i])) {
                    effects.addProperty(name, b.effects()[i]);
                }
            }
            one.add("estimates", estimates);
            one.add("verified", effects);
            edgeBlocks.add(one);
        }
        o.add("edges", edgeBlocks);
        return new GsonBuilder().serializeSpecialFloatingPointValues().create().toJson(o);
    }

    /** The command's JSON (.json), or one row per scored node, largest |estimate| first (.csv). */
    void write(Path file) throws IOException {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".json")) {
            Files.writeString(file, json() + System.lineSeparator());
            return;
        }
        if (!name.endsWith(".csv")) {
            throw new IllegalArgumentException("--out: with --features, a .json or .csv file, not " + file);
        }
        Map<String, Double> effects = effects();
        try (BufferedWriter w = Files.newBufferedWriter(file)) {
            w.write("name,dictionary,layer,site,feature,position,estimate,verified_effect");
            w.newLine();
            for (AttributeFeatures.Scored s : result.scored()) {
                FeatureNode n = s.node();
                Double effect = effects.get(s.dictionary() + "/" + n.name());
                w.write(String.format(
                        Locale.ROOT,
                        "%s,%s,%d,%s,%d,%d,%s,%s",
                        n.name(),
                        s.dictionary(),
                        n.layer(),
                        n.site(),
                        n.feature(),
                        n.position(),
                        s.estimate(),
                        effect == null ? "" : effect.toString()));
                w.newLine();
            }
        }
    }
}
