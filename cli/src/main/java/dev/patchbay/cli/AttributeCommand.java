package dev.patchbay.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.catalog.Methods;
import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Runs one attribution method on one prompt pair in-process and prints the effects. */
@Command(
        name = "attribute",
        mixinStandardHelpOptions = true,
        description = "Scores every node's effect on a metric for one clean/noise prompt pair.")
final class AttributeCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled model).")
    Path model;

    @Option(names = "--clean", required = true, description = "The prompt on which the behaviour occurs.")
    String clean;

    @Option(
            names = "--noise",
            required = true,
            description = "The prompt whose activations are patched in (same token length).")
    String noise;

    @Option(
            names = "--answer",
            required = true,
            description = "The answer token (a single token, e.g. ' Mary'); repeat for a set.")
    List<String> answers;

    @Option(names = "--wrong", description = "The wrong-answer token, for logit_diff; repeat for a set.")
    List<String> wrongs;

    @Option(
            names = "--metric",
            defaultValue = "logit_diff",
            description = "logit_diff, log_prob, prob or kl_divergence (default: ${DEFAULT-VALUE}).")
    String metric;

    @Option(
            names = "--method",
            defaultValue = "atp-star",
            description = "ap, atp, atp-qk, atp-star, or a baseline:"
                    + " iterative, subsampling, blocks, hierarchical (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(
            names = "--seed",
            defaultValue = "0",
            description = "Iterative's order and Subsampling's subsets (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(
            names = "--samples",
            defaultValue = "256",
            description = "Subsampling's patched runs (default: ${DEFAULT-VALUE}).")
    int samples;

    @Option(
            names = "--inclusion",
            defaultValue = "0.1",
            description = "Subsampling's inclusion probability (default: ${DEFAULT-VALUE}).")
    double inclusion;

    @Option(
            names = "--block-size",
            defaultValue = "16",
            description = "Blocks' nodes per block (default: ${DEFAULT-VALUE}).")
    int blockSize;

    @Option(
            names = "--branching",
            defaultValue = "4",
            description = "Hierarchical's children per group (default: ${DEFAULT-VALUE}).")
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
            defaultValue = "32",
            description = "Patched runs per forward pass (default: ${DEFAULT-VALUE}).")
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
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        try (LoadedModel loaded = LoadedModel.load(
                model != null ? model : BundledModel.directory(), precision.dataType(), device.compute())) {
            TextTokenizer tokenizer = loaded.tokenizer();
            TextTokenizer.Tokens cleanTokens = tokenizer.encodeKnown(clean);
            TextTokenizer.Tokens noiseTokens = tokenizer.encodeKnown(noise);
            if (cleanTokens.ids().length != noiseTokens.ids().length) {
                throw new IllegalArgumentException("--clean and --noise must have the same token length: clean is "
                        + Arrays.toString(cleanTokens.strings()) + ", noise is "
                        + Arrays.toString(noiseTokens.strings()));
            }
            Metric.Kind kind = Metric.Kind.fromId(metric);
            Metric m = new Metric(
                    kind,
                    tokenIds(tokenizer, "--answer", answers),
                    kind == Metric.Kind.LOGIT_DIFF ? tokenIds(tokenizer, "--wrong", wrongs) : null);
            PromptPair pair = new PromptPair(cleanTokens.ids(), noiseTokens.ids(), m);
            AttributionResult result = Methods.byId(
                            method,
                            batchRows,
                            8,
                            new Methods.BaselineSettings(
                                    seed, samples, inclusion, blockSize, branching, maxGroupPatches))
                    .run(loaded.transformer(), List.of(pair), nodeSet());
            if (json) {
                out.println(toJson(result));
            } else {
                // The metric with its tokens spelled (" Mary"), not as ids.
                printTable(out, loaded, cleanTokens, result, m.describe(id -> '"' + tokenizer.decode(id) + '"'));
            }
            out.flush();
        }
        return 0;
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

    private static String toJson(AttributionResult result) {
        JsonObject o = new JsonObject();
        o.addProperty("method", result.method());
        o.addProperty("metric", result.metric());
        o.addProperty("clean_metric", result.cleanMetric());
        o.addProperty("noise_metric", result.noiseMetric());
        JsonObject cost = new JsonObject();
        cost.addProperty("forward_passes", result.cost().forwardPasses());
        cost.addProperty("compute_forward_equivalents", result.cost().computeEquivalents());
        cost.addProperty("wall_seconds", result.cost().wallSeconds());
        o.add("cost", cost);
        JsonObject effects = new JsonObject();
        for (var block : result.blocks()) {
            for (int i = 0; i < block.size(); i++) {
                effects.addProperty(block.node(i).name(), block.value(i));
            }
        }
        o.add("effects", effects);
        return new GsonBuilder().serializeSpecialFloatingPointValues().create().toJson(o);
    }

    private void printTable(
            PrintWriter out, LoadedModel loaded, TextTokenizer.Tokens cleanTokens, AttributionResult r, String metric) {
        out.printf("%s on %s: %s%n", r.method(), loaded.name(), metric);
        out.printf("clean prompt %s%n", Arrays.toString(cleanTokens.strings()));
        out.printf(
                "metric: clean %.4f, noise %.4f; cost %.1f forward passes (%.1f of compute), %.2f s%n",
                r.cleanMetric(),
                r.noiseMetric(),
                r.cost().forwardPasses(),
                r.cost().computeEquivalents(),
                r.cost().wallSeconds());
        out.printf("%-6s %-20s %12s%n", "rank", "node", "estimate");
        List<AttributionResult.Scored> ranked = r.ranked();
        for (int i = 0; i < Math.min(top, ranked.size()); i++) {
            out.printf(
                    "%-6d %-20s %12.5f%n",
                    i + 1, ranked.get(i).node().name(), ranked.get(i).estimate());
        }
    }
}
