package dev.patchbay.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.patchbay.attribution.CircuitDiscovery;
import dev.patchbay.attribution.CircuitEvaluation;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.DiscoverCircuit;
import dev.patchbay.operations.EdgeRanking;
import dev.patchbay.operations.EvaluateCircuit;
import dev.patchbay.operations.Serving;
import dev.patchbay.operations.Summary;
import dev.patchbay.passes.PassRunner;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Circuits of edges in-process: a circuit's faithfulness (--edges), a prune curve of an edge method's top-n edges
 * (--prune), or a discovered circuit (--discover greedy|acdc), each with everything outside the circuit ablated.
 */
@Command(
        name = "circuit",
        mixinStandardHelpOptions = true,
        description = "Evaluates a circuit of edges (--edges), a prune curve (--prune) or discovers one (--discover),"
                + " for a clean/noise prompt pair (--clean, --noise, --answer) or a distribution (--pairs FILE).")
final class CircuitCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled model).")
    Path model;

    @Option(names = "--clean", description = "The prompt on which the behaviour occurs.")
    String clean;

    @Option(names = "--noise", description = "The prompt whose activations ablate (same token length).")
    String noise;

    @Option(names = "--answer", description = "The answer token; repeat for a set.")
    List<String> answers;

    @Option(names = "--wrong", description = "The wrong-answer token, for logit_diff; repeat for a set.")
    List<String> wrongs;

    @Option(names = "--pairs", description = "A JSON Lines file of pairs, as for attribute --pairs.")
    Path pairsFile;

    @Option(
            names = "--metric",
            defaultValue = "logit_diff",
            description = "logit_diff, log_prob, prob or kl_divergence (default: ${DEFAULT-VALUE}).")
    String metric;

    @Option(
            names = "--ablation",
            defaultValue = "noise",
            description =
                    "What an edge outside the circuit carries: noise (the pair's noise prompt), zero, mean (over"
                            + " the pairs' clean prompts) or resample (another pair's clean prompt) (default: ${DEFAULT-VALUE}).")
    String ablation;

    @Option(names = "--seed", defaultValue = "0", description = "Resample's draws (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(
            names = "--edges",
            split = ",",
            description = "The circuit's edges, e.g. embed->L0H2.v,L0H2->logits; --edges '' for the empty circuit.")
    List<String> edges;

    @Option(names = "--prune", description = "A prune curve: the top n edges of --ranking, n = 0, 1, 2, 4, ..., all.")
    boolean prune;

    @Option(names = "--discover", description = "Find a circuit: greedy (from --ranking, to --target) or acdc.")
    String discover;

    @Option(
            names = "--ranking",
            description = "The edge method that ranks for --prune and greedy discovery: exact, eap, eap-ig or atp-star"
                    + " (default: " + EdgeRanking.DEFAULT_METHOD_ID + ").")
    String ranking;

    @Option(
            names = "--target",
            defaultValue = "0",
            description = "Greedy discovery's faithfulness target (default: " + DiscoverCircuit.DEFAULT_TARGET + ").")
    double target;

    @Option(
            names = "--threshold",
            defaultValue = "0",
            description = "ACDC's threshold on the change of faithfulness (default: "
                    + DiscoverCircuit.DEFAULT_THRESHOLD + ").")
    double threshold;

    @Option(names = "--json", description = "Print the result as one JSON object.")
    boolean json;

    @Mixin
    DtypeOption precision = new DtypeOption();

    @Mixin
    DeviceOption device = new DeviceOption();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        int modes = (edges != null ? 1 : 0) + (prune ? 1 : 0) + (discover != null ? 1 : 0);
        if (modes != 1) {
            throw new IllegalArgumentException("give one of --edges, --prune or --discover greedy|acdc");
        }
        Ablation how = switch (ablation) {
            case "noise" -> Ablation.NOISE_PROMPT;
            case "zero" -> Ablation.ZERO;
            case "mean" -> Ablation.MEAN;
            case "resample" -> Ablation.RESAMPLE;
            default ->
                throw new IllegalArgumentException(
                        "--ablation: unknown '" + ablation + "'; use noise, zero, mean or resample");
        };
        try (LoadedModel loaded = LoadedModel.load(
                model != null ? model : BundledModel.directory(), precision.dataType(), device.compute())) {
            Metric.Kind kind = Metric.Kind.fromId(metric);
            List<PromptPair> pairs = pairsFile != null
                    ? PairsFile.read(pairsFile, loaded.tokenizer(), kind)
                    : List.of(AttributeCommand.pair(loaded.tokenizer(), kind, clean, noise, answers, wrongs, ""));
            PassRunner runner = PassRunner.direct(loaded.transformer());
            Serving serving = InProcess.serving(loaded, 0);
            EdgeRanking by = new EdgeRanking(ranking == null ? null : EdgeAttribution.Method.byId(ranking), 0);
            JsonObject result = new JsonObject();
            result.addProperty("ablation", ablation);
            if (discover != null) {
                discover(out, result, runner, serving, pairs, how, by);
            } else {
                evaluate(out, result, runner, serving, pairs, how, by);
            }
            if (json) {
                out.println(new GsonBuilder()
                        .serializeSpecialFloatingPointValues()
                        .create()
                        .toJson(result));
            }
            out.flush();
        }
        return 0;
    }

    /** A circuit's faithfulness (--edges), or a prune curve (--prune). */
    private void evaluate(
            PrintWriter out,
            JsonObject result,
            PassRunner runner,
            Serving serving,
            List<PromptPair> pairs,
            Ablation how,
            EdgeRanking by) {
        List<Edge> circuit = edges == null
                ? List.of()
                : edges.stream().filter(e -> !e.isBlank()).map(Edge::parse).toList();
        EvaluateCircuit.Plan plan = EvaluateCircuit.plan(
                new EvaluateCircuit.Request(
                        pairs,
                        how,
                        seed,
                        edges == null ? List.of() : List.of(new EvaluateCircuit.Circuit("circuit", circuit)),
                        by,
                        null),
                serving);
        JsonArray points = new JsonArray();
        if (prune && !json) {
            out.printf(
                    "prune curve of %s's ranking under %s ablation%n%8s %12s%n",
                    plan.ranking().method().id(), ablation, "edges", "faithfulness");
        }
        EvaluateCircuit.run(runner, plan, new EvaluateCircuit.Events() {
            @Override
            public void accepted(Accepted accepted) {}

            @Override
            public void point(EvaluateCircuit.Point p) {
                CircuitEvaluation.Faithfulness f = p.faithfulness();
                if (!prune) {
                    result.add("circuit", names(circuit));
                    result.addProperty("faithfulness", f.mean());
                    result.addProperty("low", f.low());
                    result.addProperty("high", f.high());
                    if (!json) {
                        out.printf(
                                Locale.ROOT,
                                "circuit of %d edges: faithfulness %.4f (95%% interval %.4f to %.4f) under %s"
                                        + " ablation%n",
                                p.size(),
                                f.mean(),
                                f.low(),
                                f.high(),
                                ablation);
                    }
                    return;
                }
                JsonObject point = new JsonObject();
                point.addProperty("size", p.size());
                point.addProperty("faithfulness", f.mean());
                points.add(point);
                if (!json) {
                    out.printf(Locale.ROOT, "%8d %12.4f%n", p.size(), f.mean());
                }
            }

            @Override
            public void progress(long done, long total) {}

            @Override
            public void summary(Summary summary) {}
        });
        if (prune) {
            result.add("prune_curve", points);
        }
    }

    /** A circuit found greedily from --ranking, or by ACDC. */
    private void discover(
            PrintWriter out,
            JsonObject result,
            PassRunner runner,
            Serving serving,
            List<PromptPair> pairs,
            Ablation how,
            EdgeRanking by) {
        DiscoverCircuit.Search search = switch (discover) {
            case "greedy" -> DiscoverCircuit.Search.GREEDY;
            case "acdc" -> DiscoverCircuit.Search.ACDC;
            default -> throw new IllegalArgumentException("--discover: unknown '" + discover + "'; use greedy or acdc");
        };
        DiscoverCircuit.Plan plan = DiscoverCircuit.plan(
                new DiscoverCircuit.Request(pairs, how, seed, search, by, target, threshold), serving);
        CircuitDiscovery.Found found = DiscoverCircuit.run(runner, plan, new DiscoverCircuit.Events() {
            @Override
            public void accepted(Accepted accepted) {}

            @Override
            public void step(CircuitDiscovery.Step step) {}

            @Override
            public void found(CircuitDiscovery.Found circuit) {}

            @Override
            public void summary(Summary summary) {}
        });
        result.add("circuit", names(found.edges()));
        result.addProperty("faithfulness", found.faithfulness());
        result.addProperty("forward_passes", found.forwardPasses());
        if (!json) {
            out.printf(
                    Locale.ROOT,
                    "%s found %d edges, faithfulness %.4f, %.0f forward passes per pair:%n  %s%n",
                    discover,
                    found.edges().size(),
                    found.faithfulness(),
                    found.forwardPasses(),
                    String.join(", ", found.edges().stream().map(Edge::name).toList()));
        }
    }

    private static JsonArray names(List<Edge> edges) {
        JsonArray a = new JsonArray();
        edges.forEach(e -> a.add(e.name()));
        return a;
    }
}
