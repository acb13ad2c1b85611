package dev.patchbay.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.patchbay.attribution.CausalScrubbing;
import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.Scrub;
import dev.patchbay.operations.Summary;
import dev.patchbay.passes.PassRunner;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Causal scrubbing in-process: a hypothesis of claims, each a part of the model and the fields of the pairs file
 * whose values label its inputs, checked on the pairs' clean prompts.
 */
@Command(
        name = "scrub",
        mixinStandardHelpOptions = true,
        description = "Causal scrubbing of a hypothesis: --claim PART=FIELD says PART (an edge such as"
                + " L0H1->L1H0.k, or a writer: embed, L1H0, L2.mlp) depends on the input only through FIELD of each"
                + " line of --pairs (FIELD+FIELD for several; * for the input itself). Prints the fraction of the"
                + " behaviour the hypothesis recovers, with its 95%% interval.")
final class ScrubCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled model).")
    Path model;

    @Option(
            names = "--pairs",
            required = true,
            description = "JSON Lines: \"clean\", \"answer\", \"wrong\" (\"noise\" not needed) and the"
                    + " fields the claims name, e.g. {\"clean\": \"...\", \"answer\": \" Mary\", \"wrong\":"
                    + " \" John\", \"io\": \"Mary\", \"template\": 2}.")
    Path pairsFile;

    @Option(names = "--claim", description = "PART=FIELD[+FIELD...] or PART=*; repeat for each part.")
    List<String> claims = new ArrayList<>();

    @Option(
            names = "--metric",
            defaultValue = "logit_diff",
            description = "logit_diff, log_prob, prob or kl_divergence (default: ${DEFAULT-VALUE}).")
    String metric;

    @Option(
            names = "--samples",
            defaultValue = "0",
            description = "Samples to draw (default: " + Scrub.DEFAULT_SAMPLES + ").")
    int samples;

    @Option(names = "--seed", defaultValue = "0", description = "The draws' seed (default: ${DEFAULT-VALUE}).")
    long seed;

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
        List<PairsFile.Line> lines = PairsFile.lines(pairsFile);
        List<CausalScrubbing.Claim> hypothesis = new ArrayList<>();
        for (String claim : claims) {
            int eq = claim.lastIndexOf('=');
            if (eq <= 0 || eq == claim.length() - 1) {
                throw new IllegalArgumentException("--claim: '" + claim + "' is not PART=FIELD[+FIELD...] or PART=*");
            }
            hypothesis.add(
                    new CausalScrubbing.Claim(claim.substring(0, eq), labels(lines, claim.substring(eq + 1), claim)));
        }
        try (LoadedModel loaded = LoadedModel.load(
                model != null ? model : BundledModel.directory(), precision.dataType(), device.compute())) {
            List<PromptPair> pairs = PairsFile.read(pairsFile, loaded.tokenizer(), Metric.Kind.fromId(metric), true);
            Scrub.Plan plan =
                    Scrub.plan(new Scrub.Request(pairs, hypothesis, samples, seed), InProcess.serving(loaded, 0));
            CausalScrubbing.Hypothesis h = plan.hypothesis();
            CausalScrubbing.Result r = Scrub.run(PassRunner.direct(loaded.transformer()), plan, new Scrub.Events() {
                @Override
                public void accepted(Accepted accepted) {}

                @Override
                public void sample(CausalScrubbing.Sample sample) {}

                @Override
                public void progress(long done, long total) {}

                @Override
                public void result(CausalScrubbing.Result result) {}

                @Override
                public void summary(Summary summary) {}
            });
            if (json) {
                JsonObject o = new JsonObject();
                o.addProperty("recovered", r.recovered());
                o.addProperty("low", r.low());
                o.addProperty("high", r.high());
                o.addProperty("original", r.original());
                o.addProperty("scrubbed", r.scrubbed());
                o.addProperty("resampled", r.resampled());
                o.addProperty("runs_per_sample", h.runsPerSample());
                JsonArray edges = new JsonArray();
                h.edges().forEach(e -> edges.add(e.name()));
                o.add("edges", edges);
                out.println(new GsonBuilder()
                        .serializeSpecialFloatingPointValues()
                        .create()
                        .toJson(o));
            } else {
                out.printf(
                        Locale.ROOT,
                        "hypothesis of %d edges, %d samples over %d pairs (%d model runs each)%n"
                                + "recovered %.3f (95%% interval %.3f to %.3f): metric %.4f original, %.4f scrubbed,"
                                + " %.4f on random inputs%n",
                        h.edges().size(),
                        plan.samples(),
                        pairs.size(),
                        h.runsPerSample(),
                        r.recovered(),
                        r.low(),
                        r.high(),
                        r.original(),
                        r.scrubbed(),
                        r.resampled());
            }
            out.flush();
        }
        return 0;
    }

    /** Each line's label for a claim: its fields' values joined, or its line number for *. */
    private static List<String> labels(List<PairsFile.Line> lines, String fields, String claim) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (fields.equals("*")) {
                out.add(Integer.toString(i));
                continue;
            }
            StringBuilder label = new StringBuilder();
            for (String field : fields.split("\\+", -1)) {
                JsonElement value = lines.get(i).fields().get(field);
                if (value == null || value.isJsonNull()) {
                    throw new IllegalArgumentException(
                            lines.get(i).where() + "no \"" + field + "\" field for --claim " + claim);
                }
                label.append(value.isJsonPrimitive() ? value.getAsString() : value.toString())
                        .append('\u001f');
            }
            out.add(label.toString());
        }
        return out;
    }
}
