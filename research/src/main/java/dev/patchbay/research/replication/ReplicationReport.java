package dev.patchbay.research.replication;

import com.google.gson.GsonBuilder;
import dev.patchbay.attribution.examples.ConstructedExample;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** Writes the replication's outputs: a PNG per setting, the relative-cost tables, and every curve as JSON. */
public final class ReplicationReport {
    private ReplicationReport() {}

    /** A constructed example with what was measured on it. */
    public record Example(ConstructedExample example, ConstructedExample.Measured measured) {}

    /**
     * The edge comparison's files (replicate --edges), beside the nodes' and never over them: a plot per setting,
     * relative-cost-edges.md and results-edges.json.
     */
    public static List<Path> writeEdges(List<Replication.Outcome> outcomes, String model, Path dir) throws IOException {
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        for (Replication.Outcome o : outcomes) {
            Path png = dir.resolve(fileName(o) + ".png");
            RecallPlot.write(o, o.bestOfEachFamily(), png);
            written.add(png);
        }
        Path table = dir.resolve("relative-cost-edges.md");
        Files.writeString(table, tables(outcomes, model));
        written.add(table);
        Path json = dir.resolve("results-edges.json");
        Files.writeString(json, new GsonBuilder().setPrettyPrinting().create().toJson(toMap(outcomes, model)));
        written.add(json);
        return written;
    }

    /** The files written, plots first. */
    public static List<Path> write(List<Replication.Outcome> outcomes, List<Example> examples, String model, Path dir)
            throws IOException {
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        for (Replication.Outcome o : outcomes) {
            Path png = dir.resolve(fileName(o) + ".png");
            RecallPlot.write(o, o.bestOfEachFamily(), png);
            written.add(png);
        }
        Path table = dir.resolve("relative-cost.md");
        Files.writeString(table, tables(outcomes, model));
        written.add(table);
        Path constructed = dir.resolve("constructed-examples.md");
        Files.writeString(constructed, examples(examples));
        written.add(constructed);
        Path json = dir.resolve("results.json");
        Files.writeString(json, new GsonBuilder().setPrettyPrinting().create().toJson(toMap(outcomes, model)));
        written.add(json);
        return written;
    }

    static String fileName(Replication.Outcome o) {
        return o.setting().toLowerCase(Locale.ROOT) + "-" + o.nodeSet();
    }

    /** Markdown: each family's best setting per column, then every setting. */
    static String tables(List<Replication.Outcome> outcomes, String model) {
        StringBuilder md = new StringBuilder();
        md.append("# Relative cost of verified recall on ")
                .append(model)
                .append("\n\n")
                .append(
                        "Written by `./patchbay replicate`. R = exp(sum_k (1/k) log(cost(k)/k) / sum_k 1/k) over the true top k")
                .append(" " + (outcomes.isEmpty() ? "nodes" : outcomes.get(0).unit())
                        + " (k up to the column's K); 1 is the oracle, lower is better. Cost is in forward passes per")
                .append(" prompt pair. Randomized methods are the geometric mean of their seeds' curves.\n\n")
                .append("## Each method at its best hyperparameters\n\n");
        Set<String> families = new LinkedHashSet<>();
        outcomes.forEach(o -> o.curves().forEach(c -> families.add(c.family())));
        table(md, outcomes, families, true);
        md.append("\n## Every hyperparameter setting\n\n");
        Set<String> labels = new LinkedHashSet<>();
        outcomes.forEach(o -> o.curves().forEach(c -> labels.add(c.label())));
        table(md, outcomes, labels, false);
        return md.toString();
    }

    private static void table(
            StringBuilder md, List<Replication.Outcome> outcomes, Set<String> rows, boolean byFamily) {
        md.append("| method |");
        outcomes.forEach(o -> md.append(" ")
                .append(o.setting())
                .append(" ")
                .append(o.nodeSet())
                .append(" (K=")
                .append(o.top().size())
                .append(") |"));
        md.append("\n|---|");
        outcomes.forEach(o -> md.append("---:|"));
        md.append("\n");
        for (String row : rows) {
            md.append("| ").append(row).append(" |");
            for (Replication.Outcome o : outcomes) {
                List<Replication.Curve> curves = byFamily ? o.bestOfEachFamily() : o.curves();
                double best = curves.stream()
                        .mapToDouble(Replication.Curve::relativeCost)
                        .min()
                        .orElseThrow();
                Replication.Curve c = curves.stream()
                        .filter(x -> (byFamily ? x.family() : x.label()).equals(row))
                        .findFirst()
                        .orElse(null);
                if (c == null) {
                    md.append(" |");
                } else {
                    String v = String.format("%.2f", c.relativeCost());
                    md.append(" ")
                            .append(c.relativeCost() == best ? "**" + v + "**" : v)
                            .append(" |");
                }
            }
            md.append("\n");
        }
    }

    /** Markdown: each example's planted node, its true effect, and each gradient method's estimate and rank. */
    static String examples(List<Example> examples) {
        StringBuilder md = new StringBuilder("# Constructed false negatives of AtP\n\n")
                .append("Written by `./patchbay replicate`. Hand-built float64 models")
                .append(
                        " (`engine/src/main/java/dev/patchbay/attribution/examples/ConstructedExample.java`), each planting one")
                .append(" failure mode in one node. Estimates of the planted node, with its rank among the model's")
                .append(" nodes in each method's order.\n\n")
                .append(
                        "| example | node | activation patching | AtP | AtP+QKfix | AtP* |\n|---|---|---:|---:|---:|---:|\n");
        for (Example e : examples) {
            ConstructedExample.Measured m = e.measured();
            md.append(String.format(
                    "| %s | %s | %.4g | %.3g (rank %d of %d) | %.4g (rank %d) | %.4g (rank %d) |%n",
                    e.example().name(),
                    e.example().planted(),
                    m.exact(),
                    m.atp(),
                    m.atpRank(),
                    m.nodes(),
                    m.atpQkFix(),
                    m.atpQkFixRank(),
                    m.atpStar(),
                    m.atpStarRank()));
        }
        md.append("\n");
        for (Example e : examples) {
            md.append("- **")
                    .append(e.example().name())
                    .append("**: ")
                    .append(e.example().mechanism())
                    .append("\n");
        }
        return md.toString();
    }

    private static Map<String, Object> toMap(List<Replication.Outcome> outcomes, String model) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", model);
        List<Object> settings = new ArrayList<>();
        for (Replication.Outcome o : outcomes) {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("setting", o.setting());
            s.put("description", o.description());
            s.put("node_set", o.nodeSet());
            s.put("pairs", o.pairs());
            s.put("nodes", o.nodes());
            s.put("clean_metric", o.cleanMetric());
            s.put("noise_metric", o.noiseMetric());
            s.put("ground_truth_seconds", o.groundTruthSeconds());
            List<Object> top = new ArrayList<>();
            o.top().forEach(t -> top.add(Map.of("node", t.name(), "effect", t.effect())));
            s.put("true_top", top);
            List<Object> curves = new ArrayList<>();
            for (Replication.Curve c : o.curves()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("family", c.family());
                m.put("label", c.label());
                m.put("relative_cost", c.relativeCost());
                m.put("seconds", c.seconds());
                m.put("cost", c.cost());
                curves.add(m);
            }
            s.put("curves", curves);
            settings.add(s);
        }
        root.put("settings", settings);
        return root;
    }
}
