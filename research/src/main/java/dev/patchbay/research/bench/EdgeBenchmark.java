package dev.patchbay.research.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgePatching;
import dev.patchbay.execution.ResidentMemory;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.model.family.Families;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.EdgeSites;
import dev.patchbay.passes.PassMemory;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Edge attribution on the random GPT-2-small-shaped model (32,491 edges over all positions): EAP, EAP-IG and AtP* on
 * every edge against one forward pass, exact edge patching's throughput batched and resumed against one full forward
 * per edge, and the peak memory of the estimates above the loaded model.
 */
public final class EdgeBenchmark {
    private static final double GB = 1e9;
    /** Edges patched exactly for the throughput: a random sample (every edge would take about 16,000 forwards). */
    private static final int EXACT_SAMPLE = 192;

    private static final int NAIVE_SAMPLE = 24;

    private final int tokens;
    private final int repeats;
    private final ComputeContext compute;

    public EdgeBenchmark(int tokens, int repeats, ComputeContext compute) {
        this.tokens = tokens;
        this.repeats = repeats;
        this.compute = compute;
    }

    public List<Benchmark.Row> run() {
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        ModelConfig config = Benchmark.gpt2Small();
        try (NDManager weights = compute.newScope()) {
            HookedTransformer model = Families.build(config, new RandomWeights(weights), weights);
            Random random = new Random(42);
            int[] clean = random.ints(tokens, 0, config.vocabSize()).toArray();
            int[] noise = random.ints(tokens, 0, config.vocabSize()).toArray();
            PromptPair pair = new PromptPair(clean, noise, Metric.logitDiff(new int[] {100}, new int[] {200}));
            List<PromptPair> pairs = List.of(pair);
            PassRunner runner = PassRunner.direct(model);
            EdgeGraph graph = new EdgeGraph(config);
            int layers = config.nLayers();
            List<Benchmark.Row> rows = new ArrayList<>();

            // Memory first, before timed runs leave the allocator's free lists behind.
            if (ResidentMemory.supported()) {
                long loaded = ResidentMemory.currentBytes();
                for (EdgeAttribution.Method m : List.of(EdgeAttribution.Method.EAP, EdgeAttribution.Method.ATP_STAR)) {
                    long peak = ResidentMemory.peakDuring(
                            () -> estimate(runner, pairs, m).get());
                    long planned = PassMemory.edgeRowBytes(config, tokens, 4, m.estimate(), 5);
                    rows.add(new Benchmark.Row(
                            m.id() + " on every edge: peak above the model",
                            0,
                            0,
                            String.format(
                                    "measured %.2f GB (the server's estimate, which sizes batches: %.2f GB)",
                                    (peak - loaded) / GB, planned / GB)));
                }
            }
            // The ratios' denominator: more runs than the rest, a noisy one would skew every ratio.
            double forward = median(Math.max(repeats, 9), () -> {
                try (NDManager scope = model.compute().newScope()) {
                    model.forward(scope, TokenBatch.of(clean), Hooks.NONE)
                            .logits()
                            .toFloatArray();
                }
                return null;
            });
            double eap = median(estimate(runner, pairs, EdgeAttribution.Method.EAP));
            double ig = median(estimate(runner, pairs, EdgeAttribution.Method.EAP_IG));
            double star = median(estimate(runner, pairs, EdgeAttribution.Method.ATP_STAR));

            List<Edge> sample = new ArrayList<>();
            for (int i = 0; i < EXACT_SAMPLE; i++) {
                EdgeGraph.Group g =
                        graph.groups().get(random.nextInt(graph.groups().size()));
                sample.add(g.edge(random.nextInt((int) g.edges()), null, graph));
            }
            double batched = median(() -> {
                try (EdgePatching patching = new EdgePatching(runner, pairs, 48)) {
                    patching.patch(sample.stream().map(List::of).toList());
                }
                return null;
            });
            List<Edge> few = sample.subList(0, NAIVE_SAMPLE);
            double naive = median(() -> {
                naivePatching(model, pair, few);
                return null;
            });
            double batchedRate = EXACT_SAMPLE / batched;
            double naiveRate = NAIVE_SAMPLE / naive;

            rows.add(new Benchmark.Row(Benchmark.FORWARD + " (edges section)", forward, 1, ""));
            rows.add(new Benchmark.Row("EAP, every edge (" + graph.edges() + ")", eap, eap / forward, "<= 5x"));
            rows.add(new Benchmark.Row("EAP-IG, 5 steps, every edge", ig, ig / forward, ""));
            rows.add(new Benchmark.Row("AtP* on every edge", star, star / forward, "<= " + (layers + 6) + "x"));
            rows.add(new Benchmark.Row(
                    "exact edge patching, batched + resumed, " + EXACT_SAMPLE + " edges",
                    batched,
                    batched / forward,
                    String.format("%.1f edges/s", batchedRate)));
            rows.add(new Benchmark.Row(
                    "exact edge patching, one full forward per edge, " + NAIVE_SAMPLE + " edges",
                    naive,
                    naive / forward,
                    String.format(
                            "%.1f edges/s; batched >= 3x faster per edge (measured %.1fx)",
                            naiveRate, batchedRate / naiveRate)));
            return rows;
        }
    }

    private static Supplier<Void> estimate(PassRunner runner, List<PromptPair> pairs, EdgeAttribution.Method m) {
        EdgeAttribution.Settings settings = new EdgeAttribution.Settings(m, false, 5, 1, 48);
        return () -> {
            EdgeAttribution.run(runner, pairs, settings, EdgeAttribution.Listener.NONE);
            return null;
        };
    }

    /**
     * What a researcher's loop does without batching or resumption: per edge, one full forward of the clean prompt
     * with the reader's input patched (from the clean and noise runs, taken once).
     */
    private static void naivePatching(HookedTransformer model, PromptPair pair, List<Edge> edges) {
        ModelConfig config = model.config();
        EdgeGraph graph = new EdgeGraph(config);
        try (NDManager scope = model.compute().newScope()) {
            List<String> writers = EdgeSites.writerSites(config);
            Hooks.Builder keep = Hooks.builder().cache(writers);
            for (Edge e : edges) {
                keep.cache(
                        EdgeSites.cleanInputSite(e.reader().kind(), e.reader().layer(), config));
            }
            ForwardResult clean = model.forward(scope, TokenBatch.of(pair.clean()), keep.build());
            ForwardResult noise = model.forward(
                    scope,
                    TokenBatch.of(pair.noise()),
                    Hooks.builder().cache(writers).build());
            NDArray changes = EdgeSites.writerChanges(model, scope, clean.activations(), noise.activations());
            for (Edge e : edges) {
                try (NDManager run = scope.newSubManager()) {
                    Edge.Reader r = e.reader();
                    NDArray source = clean.activation(EdgeSites.cleanInputSite(r.kind(), r.layer(), config))
                            .get(new NDIndex("0"))
                            .add(changes.get(new NDIndex("0, :, {}", graph.index(e.writer()))));
                    source.attach(run);
                    model.forward(
                                    run,
                                    TokenBatch.of(pair.clean()),
                                    Hooks.builder()
                                            .patch(
                                                    EdgeSites.readerSite(r.kind(), r.layer(), config),
                                                    Patch.of(
                                                            0,
                                                            source,
                                                            null,
                                                            r.kind().perHead() ? new int[] {r.unit()} : null))
                                            .build())
                            .logits()
                            .get("0, -1")
                            .toFloatArray();
                }
            }
        }
    }

    /** Median wall time of {@code repeats} runs after one warm-up run. */
    private double median(Supplier<Void> work) {
        return median(repeats, work);
    }

    private static double median(int repeats, Supplier<Void> work) {
        return Benchmark.median(repeats, work::get);
    }
}
