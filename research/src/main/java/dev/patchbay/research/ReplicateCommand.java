package dev.patchbay.research;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.attribution.examples.ConstructedExample;
import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.cli.DeviceOption;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.research.replication.EdgeReplication;
import dev.patchbay.research.replication.PromptSetting;
import dev.patchbay.research.replication.Replication;
import dev.patchbay.research.replication.ReplicationReport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** The paper's central result on the bundled model: every method's cost of verified recall. */
@Command(
        name = "replicate",
        mixinStandardHelpOptions = true,
        description = "Ground truth by exhaustive activation patching, then each method's cost of verified recall,"
                + " per prompt setting and node set; writes log-log plots, a relative-cost table, JSON, and the"
                + " constructed saturation and cancellation examples.")
final class ReplicateCommand implements Callable<Integer> {
    private static final Map<String, NodeSet> NODE_SETS =
            Map.of("attention", NodeSet.attention(), "neurons", NodeSet.neurons());

    @Mixin
    DeviceOption device = new DeviceOption();

    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled model).")
    Path model;

    @Option(
            names = "--prompts",
            description = "The prompt settings (default: replication.json in the model directory).")
    Path prompts;

    @Option(
            names = "--out",
            description = "Where the plots and tables go (default: patchbay-replication in the current folder;"
                    + " docs/replication holds the published ones, refreshed by --out docs/replication).")
    Path out;

    @Option(
            names = "--settings",
            split = ",",
            description = "Prompt settings to run, by name (default: all in the file).")
    List<String> settings;

    @Option(
            names = "--nodes",
            split = ",",
            defaultValue = "attention,neurons",
            description = "Node sets: attention, neurons (default: ${DEFAULT-VALUE}).")
    List<String> nodeSets;

    @Option(
            names = "--max-k",
            defaultValue = "1000",
            description = "The largest k of cost(k) (default: ${DEFAULT-VALUE}).")
    int maxK;

    @Option(
            names = "--seeds",
            defaultValue = "3",
            description = "Runs of each randomized method (default: ${DEFAULT-VALUE}).")
    int seeds;

    @Option(
            names = "--batch-rows",
            defaultValue = "128",
            description = "Patched runs per forward pass (default: ${DEFAULT-VALUE}).")
    int batchRows;

    @Option(
            names = "--edges",
            description = "Compare the edge methods instead (exact edge patching as the ground truth; EAP, EAP-IG and"
                    + " AtP* on edges against Iterative and Hierarchical), on edges over all positions and per position;"
                    + " writes *-edges*.png, relative-cost-edges.md and results-edges.json.")
    boolean edges;

    @Option(
            names = "--ig-steps",
            defaultValue = "5",
            description = "EAP-IG's interpolation steps, with --edges (default: ${DEFAULT-VALUE}).")
    int igSteps;

    @Option(
            names = "--float32",
            description = "Compute in float32 (default: float64, so that effects near zero are exact).")
    boolean float32;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        for (String n : nodeSets) {
            if (!NODE_SETS.containsKey(n)) {
                throw new IllegalArgumentException("--nodes: unknown '" + n + "'; use attention or neurons");
            }
        }
        Path dir = model != null ? model : BundledModel.directory();
        // Never the tracked docs by default: a trial run would overwrite the published figures.
        Path outDir = out != null ? out : Path.of("patchbay-replication");
        Replication replication = new Replication(maxK, seeds, batchRows, 1e-9);
        List<Replication.Outcome> outcomes = new ArrayList<>();
        try (LoadedModel loaded =
                LoadedModel.load(dir, float32 ? DataType.FLOAT32 : DataType.FLOAT64, device.compute())) {
            List<PromptSetting> all =
                    PromptSetting.load(prompts != null ? prompts : dir.resolve("replication.json"), loaded.tokenizer());
            for (String s : settings == null ? List.<String>of() : settings) {
                if (all.stream().noneMatch(p -> p.name().equals(s))) {
                    throw new IllegalArgumentException("--settings: no setting '" + s + "'; the file has "
                            + all.stream().map(PromptSetting::name).toList());
                }
            }
            if (edges) {
                EdgeReplication edgeReplication = new EdgeReplication(maxK, seeds, batchRows, 1e-9, igSteps);
                for (PromptSetting setting : all) {
                    if (settings != null && !settings.contains(setting.name())) {
                        continue;
                    }
                    for (boolean perPosition : new boolean[] {false, true}) {
                        outcomes.add(edgeReplication.run(loaded.transformer(), setting, perPosition, line -> {
                            w.println(line);
                            w.flush();
                        }));
                    }
                }
                for (Path p : ReplicationReport.writeEdges(outcomes, loaded.name(), outDir)) {
                    w.println("wrote " + p);
                }
                w.flush();
                return 0;
            }
            for (PromptSetting setting : all) {
                if (settings != null && !settings.contains(setting.name())) {
                    continue;
                }
                for (String n : nodeSets) {
                    outcomes.add(replication.run(loaded.transformer(), setting, n, NODE_SETS.get(n), line -> {
                        w.println(line);
                        w.flush();
                    }));
                }
            }
            List<ReplicationReport.Example> examples = new ArrayList<>();
            try (NDManager manager = loaded.transformer().compute().newScope()) {
                for (ConstructedExample e : ConstructedExample.all()) {
                    examples.add(new ReplicationReport.Example(e, e.measure(manager)));
                }
            }
            for (Path p : ReplicationReport.write(outcomes, examples, loaded.name(), outDir)) {
                w.println("wrote " + p);
            }
        }
        w.flush();
        return 0;
    }
}
