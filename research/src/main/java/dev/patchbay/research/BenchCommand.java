package dev.patchbay.research;

import com.google.gson.GsonBuilder;
import dev.patchbay.cli.DeviceOption;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.research.bench.Benchmark;
import dev.patchbay.research.bench.TorchReference;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Speed targets live here, not in timed unit tests. */
@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description = "Times the methods on a random model (GPT-2 small's shape by default); prints a table and writes"
                + " JSON.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--tokens", defaultValue = "64", description = "Prompt length (default: ${DEFAULT-VALUE}).")
    int tokens;

    @Option(
            names = "--repeats",
            defaultValue = "3",
            description = "Timed runs per measurement; the median is reported (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(
            names = "--section",
            defaultValue = "all",
            description = "memory, memory-sweep (peak memory against prompt length up to --tokens, not in all),"
                    + " envelope (the longest prompt each AtP pass fits per model and memory size, from"
                    + " the memory model), methods, reference (methods beside plain PyTorch + transformers, tools/"
                    + "torch_reference.py), edges, features (AtP over SAE features, beside component AtP and plain PyTorch),"
                    + " generation, service or all (default: ${DEFAULT-VALUE}).")
    String section;

    @Option(
            names = "--shape",
            defaultValue = "gpt2-small",
            description = "The random model the methods section times: gpt2-small, llama-1b (Llama 3.2 1B's shape,"
                    + " about 5 GB in fp32; meant for a GPU) or gpt2-narrow (GPT-2 small's ops at d_model 48: the"
                    + " per-op cost) (default: ${DEFAULT-VALUE}).")
    String shapeId;

    @Option(
            names = "--pairs",
            defaultValue = "16",
            description = "Pairs of the AtP sweeps whose throughput is measured, summed and each pair's own"
                    + " (default: ${DEFAULT-VALUE}; the GPU check uses 256).")
    int sweepPairs;

    @Option(
            names = "--sweep-methods",
            split = ";",
            description = "The memory sweep's methods to run, by how their names begin (any case; several separated"
                    + " by ';', since the names hold commas): e.g. 'AtP' for the node methods, 'EAP;edge' for the edge"
                    + " methods, 'AtP, recomputed' for one; every method when left out.")
    List<String> sweepMethods = List.of();

    @Option(
            names = "--sweep-from",
            defaultValue = "256",
            description = "The memory sweep's shortest prompt on the tiny shape; lengths double from it up to --tokens"
                    + " (default: ${DEFAULT-VALUE}).")
    int sweepFrom;

    @Option(
            names = "--out",
            defaultValue = "patchbay-bench.json",
            description = "Where to write the JSON (default: ${DEFAULT-VALUE}).")
    Path out;

    @Mixin
    DeviceOption device = new DeviceOption();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        List<Benchmark.Row> rows = new java.util.ArrayList<>();
        if (!List.of(
                        "all",
                        "memory",
                        "memory-sweep",
                        "envelope",
                        "methods",
                        "reference",
                        "edges",
                        "features",
                        "generation",
                        "service")
                .contains(section)) {
            throw new IllegalArgumentException("--section: unknown '" + section
                    + "'; use memory, memory-sweep, envelope, methods, reference, edges, features, generation,"
                    + " service or all");
        }
        ComputeContext compute = device.compute();
        Benchmark.ModelShape shape = Benchmark.ModelShape.of(shapeId);
        w.printf("computing on %s%n", compute.describe());
        // Memory first: the allocator's leftovers from timed runs would blur the peaks.
        if (section.equals("all") || section.equals("memory")) {
            rows.addAll(new dev.patchbay.research.bench.MemoryBenchmark(tokens, compute).run());
        }
        // Not in "all": its longest prompts take minutes each.
        if (section.equals("memory-sweep")) {
            rows.addAll(new dev.patchbay.research.bench.MemorySweep(
                            compute, Math.max(tokens, sweepFrom), sweepFrom, sweepMethods)
                    .run());
        }
        if (section.equals("all") || section.equals("envelope")) {
            rows.addAll(dev.patchbay.research.bench.MemoryEnvelope.run());
        }
        if (List.of("all", "methods", "reference").contains(section)) {
            List<Benchmark.Row> methods = new Benchmark(shape, tokens, repeats, sweepPairs, compute).run();
            rows.addAll(methods);
            if (!section.equals("methods") && !shape.hasTorchReference()) {
                rows.add(new Benchmark.Row(
                        "plain PyTorch reference",
                        0,
                        0,
                        "not measured: tools/torch_reference.py has the GPT-2 shapes"));
            } else if (!section.equals("methods")) {
                String torchDevice =
                        compute.device().isGpu() ? "cuda:" + compute.device().getDeviceId() : "cpu";
                rows.addAll(TorchReference.run(methods, shape, torchDevice, tokens, repeats, sweepPairs));
            }
        }
        if (section.equals("all") || section.equals("edges")) {
            rows.addAll(new dev.patchbay.research.bench.EdgeBenchmark(tokens, repeats, compute).run());
        }
        if (section.equals("all") || section.equals("features")) {
            rows.addAll(new dev.patchbay.research.bench.FeatureBenchmark(tokens, 16384, repeats, compute).run());
        }
        if (section.equals("all") || section.equals("generation")) {
            rows.addAll(new dev.patchbay.research.bench.GenerationBenchmark(repeats, compute).run());
        }
        if (section.equals("all") || section.equals("service")) {
            rows.addAll(new dev.patchbay.research.bench.ServiceBenchmark(tokens, repeats, sweepPairs, compute).run());
        }
        w.printf("%-52s %12s %10s  %s%n", "measurement", "median (s)", "x forward", "target");
        for (Benchmark.Row r : rows) {
            w.printf(
                    "%-52s %12s %10s  %s%n",
                    r.name(),
                    r.medianSeconds() > 0 ? String.format("%.4f", r.medianSeconds()) : "",
                    r.ratioToForward() > 0 ? String.format("%.2f", r.ratioToForward()) : "",
                    r.target());
        }
        Files.writeString(
                out,
                new GsonBuilder().setPrettyPrinting().create().toJson(Benchmark.toMap(rows, shape, tokens, repeats)));
        w.printf("wrote %s%n", out.toAbsolutePath());
        w.flush();
        return 0;
    }
}
