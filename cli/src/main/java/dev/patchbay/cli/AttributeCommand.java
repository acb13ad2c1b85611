package dev.patchbay.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.catalog.Methods;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.attribution.diagnostic.Verification;
import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.AttributeEdges;
import dev.patchbay.operations.AttributeFeatures;
import dev.patchbay.operations.AttributeNodes;
import dev.patchbay.operations.DiagnosticOptions;
import dev.patchbay.operations.Serving;
import dev.patchbay.passes.PassRunner;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Runs one attribution method in-process on one prompt pair or a distribution of them, verifies the top nodes
 * if asked, and prints the effects or writes them to a file.
 */
@Command(
        name = "attribute",
        mixinStandardHelpOptions = true,
        description = "Scores every node's effect on a metric for a clean/noise prompt pair (--clean, --noise,"
                + " --answer) or a distribution of pairs (--pairs FILE).")
final class AttributeCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled model).")
    Path model;

    @Option(names = "--clean", description = "The prompt on which the behaviour occurs.")
    String clean;

    @Option(names = "--noise", description = "The prompt whose activations are patched in (same token length).")
    String noise;

    @Option(names = "--answer", description = "The answer token (a single token, e.g. ' Mary'); repeat for a set.")
    List<String> answers;

    @Option(
            names = "--pairs",
            description = "A JSON Lines file of pairs, one object per line: {\"clean\": ..., \"noise\": ...,"
                    + " \"answer\": \" Mary\" or [...], \"wrong\": ...}; a node's score is its mean |effect| over them"
                    + " (the paper's eq. 5).")
    Path pairsFile;

    @Option(
            names = "--verify-top-k",
            defaultValue = "0",
            description = "Verify the top K nodes by activation patching (default: ${DEFAULT-VALUE}).")
    int verifyTopK;

    @Option(
            names = "--diagnostic",
            description = "After verification, bound the effects of the nodes it left out (the false-negative"
                    + " diagnostic).")
    boolean diagnostic;

    @Option(
            names = "--out",
            description = "Also write every node's (or edge's) estimate and verified effect to this file: .json, .csv,"
                    + " or .html for the interactive report (heatmap, circuit graph, verification, diagnostic).")
    Path outFile;

    @Option(names = "--wrong", description = "The wrong-answer token, for logit_diff; repeat for a set.")
    List<String> wrongs;

    @Option(
            names = "--metric",
            defaultValue = "logit_diff",
            description = "logit_diff, log_prob, prob or kl_divergence (default: ${DEFAULT-VALUE}).")
    String metric;

    @Option(
            names = "--method",
            description = "ap, atp, atp-qk, atp-star, or a baseline:"
                    + " iterative, subsampling, blocks, hierarchical; with --edges: exact, eap, eap-ig or atp-star"
                    + " (default: " + AttributeNodes.DEFAULT_METHOD + "; with --edges, "
                    + AttributeEdges.DEFAULT_METHOD_ID + ").")
    String method;

    @Option(
            names = "--edges",
            description = "Score edges (writer -> reader, e.g. L0H1->L1H2.q) instead of nodes; --positions"
                    + " per-position scores each edge at each position.")
    boolean edges;

    @Option(
            names = "--features",
            description = "Score the features and error terms of the sparse dictionaries given with --dictionary"
                    + " (--method atp, atp-star or ig, with --ig-steps), verified by exact feature patching with"
                    + " --verify-top-k.")
    boolean features;

    @Option(
            names = "--dictionary",
            description = "With --features: a dictionary in the SAELens layout, NAME=DIR[@SITE] (SITE defaults to the"
                    + " one its cfg.json names); repeat for several.")
    List<String> dictionaries;

    @Option(
            names = "--edge-nodes",
            defaultValue = "0",
            description = "With --features: EAP's feature edges between the dictionaries, into each downstream"
                    + " dictionary's N changed features of largest |AtP| (default: none).")
    int edgeNodes;

    @Option(
            names = "--verify-edges",
            defaultValue = "0",
            description = "With --edge-nodes: verify the N largest feature edges of each pair of dictionaries by exact"
                    + " edge patching.")
    int verifyEdges;

    @Option(
            names = "--ig-steps",
            defaultValue = "0",
            description = "Interpolation steps: EAP-IG's, with --edges --method eap-ig (default: "
                    + EdgeAttribution.Settings.DEFAULT_IG_STEPS
                    + "); integrated gradients', with --features --method ig"
                    + " (default: " + AttributeFeatures.DEFAULT_IG_STEPS + ").")
    int igSteps;

    @Option(
            names = "--seed",
            defaultValue = "0",
            description = "Iterative's order and Subsampling's subsets (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(
            names = "--samples",
            defaultValue = "0",
            description = "Subsampling's patched runs (default: " + Methods.DEFAULT_SAMPLES + ").")
    int samples;

    @Option(
            names = "--inclusion",
            defaultValue = "0",
            description = "Subsampling's inclusion probability (default: " + Methods.DEFAULT_INCLUSION + ").")
    double inclusion;

    @Option(
            names = "--block-size",
            defaultValue = "0",
            description = "Blocks' nodes per block (default: " + Methods.DEFAULT_BLOCK_SIZE + ").")
    int blockSize;

    @Option(
            names = "--branching",
            defaultValue = "0",
            description = "Hierarchical's children per group (default: " + Methods.DEFAULT_BRANCHING + ").")
    int branching;

    @Option(
            names = "--max-group-patches",
            defaultValue = "0",
            description = "Hierarchical's budget; 0 for none (default: ${DEFAULT-VALUE}).")
    long maxGroupPatches;

    @Option(
            names = "--nodes",
            defaultValue = "heads",
            description =
                    "heads (each head's output over all positions), attention, neurons or all (default: ${DEFAULT-VALUE}).")
    String nodes;

    @Option(
            names = "--positions",
            description = "all (a node spans every position) or per-position"
                    + " (default: all for heads, per-position otherwise).")
    String positions;

    @Option(
            names = "--top",
            defaultValue = "20",
            description = "Nodes to list without --json (default: ${DEFAULT-VALUE}).")
    int top;

    @Option(
            names = "--batch-rows",
            defaultValue = "0",
            description = "Patched runs per forward pass (default: " + SchedulerConfig.DEFAULT_BATCH_ROWS
                    + ", fewer where the memory budget asks it).")
    int batchRows;

    @Option(
            names = "--json",
            description = "Print one JSON object whose \"effects\" maps every node name to its estimate.")
    boolean json;

    @Mixin
    DtypeOption precision = new DtypeOption();

    @Mixin
    DeviceOption device = new DeviceOption();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        checkOptions();
        try (LoadedModel loaded = LoadedModel.load(
                model != null ? model : BundledModel.directory(), precision.dataType(), device.compute())) {
            TextTokenizer tokenizer = loaded.tokenizer();
            Metric.Kind kind = Metric.Kind.fromId(metric);
            List<PromptPair> pairs = pairsFile != null
                    ? PairsFile.read(pairsFile, tokenizer, kind)
                    : List.of(pair(tokenizer, kind, clean, noise, answers, wrongs, ""));
            PassRunner runner = PassRunner.direct(loaded.transformer());
            Serving serving = InProcess.serving(loaded, batchRows);
            if (edges) {
                runEdges(out, loaded, tokenizer, pairs, runner, serving);
                return 0;
            }
            if (features && edges) {
                throw new IllegalArgumentException("--features and --edges: give one or the other");
            }
            if (features) {
                runFeatures(out, loaded, tokenizer, pairs, runner, serving);
                return 0;
            }
            NodeRun run = NodeRun.of(
                    runner,
                    AttributeNodes.plan(
                            new AttributeNodes.Request(
                                    pairs,
                                    nodeSet(),
                                    method,
                                    new Methods.BaselineSettings(
                                            seed, samples, inclusion, blockSize, branching, maxGroupPatches),
                                    verifyTopK,
                                    0,
                                    diagnostic ? DiagnosticOptions.DEFAULTS : DiagnosticOptions.OFF),
                            serving));
            AttributionResult result = run.result();
            List<Verification.Verified> verified = run.verified();
            FalseNegativeDiagnostic.Report<Node> report = run.report();
            Metric first = pairs.get(0).metric();
            String metricText = first.describe(id -> '"' + tokenizer.decode(id) + '"');
            if (json) {
                out.println(toJson(result, run.total(), verified, report));
            } else {
                printTable(out, loaded, tokenizer, pairs, result, run.total(), verified, report, metricText);
            }
            if (outFile != null
                    && outFile.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".html")) {
                HtmlReport.Run about = new HtmlReport.Run(
                        loaded.name(),
                        result.method(),
                        metricText,
                        result.pairs(),
                        result.cleanMetric(),
                        result.noiseMetric(),
                        run.total(),
                        run.magnitudes());
                HtmlReport.write(outFile, HtmlReport.nodes(about, result, verified, report));
                if (!json) {
                    out.println("wrote " + outFile);
                }
            } else if (outFile != null) {
                ResultFiles.write(outFile, result, verified, toJson(result, run.total(), verified, report));
                if (!json) {
                    out.println("wrote " + outFile);
                }
            }
            out.flush();
        }
        return 0;
    }

    private void runEdges(
            PrintWriter out,
            LoadedModel loaded,
            TextTokenizer tokenizer,
            List<PromptPair> pairs,
            PassRunner runner,
            Serving serving)
            throws IOException {
        if (nodes != null && !nodes.equals("heads")) {
            throw new IllegalArgumentException("--nodes chooses nodes; --edges scores every edge of the model");
        }
        boolean perPosition = positions != null
                && switch (positions) {
                    case "all" -> false;
                    case "per-position" -> true;
                    default ->
                        throw new IllegalArgumentException(
                                "--positions: unknown '" + positions + "'; use all or per-position");
                };
        AttributeEdges.Request request = new AttributeEdges.Request(
                pairs,
                method == null ? null : EdgeAttribution.Method.byId(method),
                igSteps,
                perPosition,
                verifyTopK,
                0,
                diagnostic ? DiagnosticOptions.DEFAULTS : DiagnosticOptions.OFF);
        EdgeReport report = EdgeReport.run(runner, AttributeEdges.plan(request, serving));
        if (json) {
            out.println(report.json());
        } else {
            String metricText = pairs.get(0).metric().describe(id -> '"' + tokenizer.decode(id) + '"');
            report.printTable(out, loaded.name(), metricText, top);
        }
        if (outFile != null) {
            String metricText = pairs.get(0).metric().describe(id -> '"' + tokenizer.decode(id) + '"');
            report.write(outFile, loaded.name(), metricText, loaded.config());
            if (!json) {
                out.println("wrote " + outFile);
            }
        }
        out.flush();
    }

    private void runFeatures(
            PrintWriter out,
            LoadedModel loaded,
            TextTokenizer tokenizer,
            List<PromptPair> pairs,
            PassRunner runner,
            Serving serving)
            throws IOException {
        if (!"heads".equals(nodes) || positions != null) {
            throw new IllegalArgumentException("--features scores every feature of its dictionaries at every"
                    + " position; --nodes and --positions do not apply");
        }
        if (dictionaries == null || dictionaries.isEmpty()) {
            throw new IllegalArgumentException("--features needs at least one --dictionary NAME=DIR[@SITE]");
        }
        for (String spec : dictionaries) {
            DictionarySpec.parse(spec, Map.of(loaded.name(), loaded)).addTo(Map.of(loaded.name(), loaded));
        }
        AttributeFeatures.Request request = new AttributeFeatures.Request(
                pairs,
                List.of(),
                method,
                verifyTopK,
                diagnostic ? DiagnosticOptions.DEFAULTS : DiagnosticOptions.OFF,
                igSteps,
                edgeNodes,
                verifyEdges);
        FeatureReport report =
                FeatureReport.run(runner, AttributeFeatures.plan(request, serving, loaded.dictionaries()));
        if (json) {
            out.println(report.json());
        } else {
            String metricText = pairs.get(0).metric().describe(id -> '"' + tokenizer.decode(id) + '"');
            report.printTable(out, loaded.name(), metricText, top);
        }
        if (outFile != null) {
            report.write(outFile);
            if (!json) {
                out.println("wrote " + outFile);
            }
        }
        out.flush();
    }

    private void checkOptions() {
        boolean single = clean != null || noise != null || answers != null;
        if (pairsFile != null && single) {
            throw new IllegalArgumentException(
                    "--pairs replaces --clean, --noise, --answer and --wrong; give one or" + " the other");
        }
        if (pairsFile == null && (clean == null || noise == null || answers == null)) {
            throw new IllegalArgumentException("give --clean, --noise and --answer (or --pairs FILE)");
        }
        if (verifyTopK < 0) {
            throw new IllegalArgumentException("--verify-top-k must not be negative, not " + verifyTopK);
        }
        if (outFile != null) {
            ResultFiles.checkName(outFile);
        }
        if (diagnostic && verifyTopK == 0) {
            throw new IllegalArgumentException("--diagnostic bounds what verification left out: give --verify-top-k");
        }
    }

    /** One pair from prompt texts and answer tokens; {@code where} prefixes errors (a line of --pairs). */
    static PromptPair pair(
            TextTokenizer tokenizer,
            Metric.Kind kind,
            String clean,
            String noise,
            List<String> answers,
            List<String> wrongs,
            String where) {
        TextTokenizer.Tokens cleanTokens = tokenizer.encodeKnown(clean);
        TextTokenizer.Tokens noiseTokens = tokenizer.encodeKnown(noise);
        if (cleanTokens.ids().length != noiseTokens.ids().length) {
            throw new IllegalArgumentException(where + "--clean and --noise must have the same token length: clean is "
                    + Arrays.toString(cleanTokens.strings()) + ", noise is "
                    + Arrays.toString(noiseTokens.strings()));
        }
        Metric m = new Metric(
                kind,
                tokenIds(tokenizer, where + "--answer", answers),
                kind == Metric.Kind.LOGIT_DIFF ? tokenIds(tokenizer, where + "--wrong", wrongs) : null);
        return new PromptPair(cleanTokens.ids(), noiseTokens.ids(), m);
    }

    private NodeSet nodeSet() {
        NodeSet set = switch (nodes) {
            case "heads" -> NodeSet.heads();
            case "attention" -> NodeSet.attention();
            case "neurons" -> NodeSet.neurons();
            case "all" -> NodeSet.attentionAndNeurons();
            default ->
                throw new IllegalArgumentException(
                        "--nodes: unknown '" + nodes + "'; use heads, attention, neurons or all");
        };
        if (positions == null) {
            return set;
        }
        return switch (positions) {
            case "all" -> set.withPerPosition(false);
            case "per-position" -> set.withPerPosition(true);
            default ->
                throw new IllegalArgumentException("--positions: unknown '" + positions + "'; use all or per-position");
        };
    }

    private static int[] tokenIds(TextTokenizer tokenizer, String option, List<String> texts) {
        if (texts == null || texts.isEmpty()) {
            throw new IllegalArgumentException(option + " is required for this metric");
        }
        int[] ids = new int[texts.size()];
        for (int i = 0; i < ids.length; i++) {
            try {
                ids[i] = tokenizer.singleToken(texts.get(i));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(option + " " + e.getMessage(), e);
            }
        }
        return ids;
    }

    private static String toJson(
            AttributionResult result,
            Cost total,
            List<Verification.Verified> verified,
            FalseNegativeDiagnostic.Report<Node> report) {
        JsonObject o = new JsonObject();
        o.addProperty("method", result.method());
        o.addProperty("metric", result.metric());
        o.addProperty("pairs", result.pairs());
        o.addProperty("clean_metric", result.cleanMetric());
        o.addProperty("noise_metric", result.noiseMetric());
        JsonObject cost = new JsonObject();
        cost.addProperty("forward_passes", total.forwardPasses());
        cost.addProperty("compute_forward_equivalents", total.computeEquivalents());
        cost.addProperty("wall_seconds", total.wallSeconds());
        o.add("cost", cost);
        JsonObject effects = new JsonObject();
        for (var block : result.blocks()) {
            for (int i = 0; i < block.size(); i++) {
                effects.addProperty(block.node(i).name(), block.value(i));
            }
        }
        o.add("effects", effects);
        JsonArray checked = new JsonArray();
        for (Verification.Verified v : verified) {
            JsonObject one = new JsonObject();
            one.addProperty("rank", v.rank());
            one.addProperty("node", v.node().name());
            one.addProperty("estimate", v.estimate());
            one.addProperty("effect", v.effect());
            checked.add(one);
        }
        o.add("verified", checked);
        if (report != null) {
            JsonObject d = new JsonObject();
            d.addProperty("nodes", report.nodes());
            d.addProperty("threshold", report.threshold());
            d.addProperty("max_upper_bound", report.maxUpperBound());
            d.addProperty("expected_missed", report.expectedMissed());
            JsonArray flagged = new JsonArray();
            report.flagged().forEach(b -> flagged.add(b.item().name()));
            d.add("flagged", flagged);
            o.add("diagnostic", d);
        }
        return new GsonBuilder().serializeSpecialFloatingPointValues().create().toJson(o);
    }

    private void printTable(
            PrintWriter out,
            LoadedModel loaded,
            TextTokenizer tokenizer,
            List<PromptPair> pairs,
            AttributionResult r,
            Cost total,
            List<Verification.Verified> verified,
            FalseNegativeDiagnostic.Report<Node> report,
            String metric) {
        out.printf("%s on %s: %s%n", r.method(), loaded.name(), metric);
        if (pairs.size() == 1) {
            out.printf(
                    "clean prompt %s%n",
                    Arrays.stream(pairs.get(0).clean())
                            .mapToObj(id -> '"' + tokenizer.decode(id) + '"')
                            .toList());
        } else {
            out.printf("%d pairs (a node's estimate is its mean |effect| over them)%n", pairs.size());
        }
        out.printf(
                "metric: clean %.4f, noise %.4f; cost %.1f forward passes (%.1f of compute), %.2f s%n",
                r.cleanMetric(),
                r.noiseMetric(),
                total.forwardPasses(),
                total.computeEquivalents(),
                total.wallSeconds());
        Map<Node, Double> effects = new HashMap<>();
        verified.forEach(v -> effects.put(v.node(), v.effect()));
        boolean anyVerified = !effects.isEmpty();
        out.printf("%-6s %-20s %12s%s%n", "rank", "node", "estimate", anyVerified ? "  verified effect" : "");
        List<AttributionResult.Scored> ranked = r.top(top);
        for (int i = 0; i < ranked.size(); i++) {
            Double effect = effects.get(ranked.get(i).node());
            out.printf(
                    "%-6d %-20s %12.5f%s%n",
                    i + 1,
                    ranked.get(i).node().name(),
                    ranked.get(i).estimate(),
                    effect == null ? "" : String.format(Locale.ROOT, " %16.5f", effect));
        }
        if (report != null) {
            out.printf(
                    "diagnostic: %d unverified nodes, largest upper bound %.4f (threshold %.4f); verify next: %s%n",
                    report.nodes(),
                    report.maxUpperBound(),
                    report.threshold(),
                    report.flagged().isEmpty()
                            ? "none"
                            : report.flagged().stream()
                                    .map(b -> b.item().name())
                                    .toList());
        }
    }
}
