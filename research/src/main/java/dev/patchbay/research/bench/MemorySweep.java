package dev.patchbay.research.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.patchbay.attribution.AtP;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.execution.ResidentMemory;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.family.Families;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Peak resident memory above the model against prompt length, for AtP, AtP*, EAP and edge AtP* with per-layer
 * recomputation (and the plain passes where they fit the machine), on random models: the tiny Llama's shape widened to 8 heads, and Llama
 * 3.2 1B's shape cut to 4 of its 16 layers. Lengths go up, so each peak starts from a process that has held no more;
 * set MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0 so that freed native memory goes back and each peak is
 * its own. The growth exponent is the slope of log(peak) over log(length) between the two longest prompts.
 */
public final class MemorySweep {
    private static final double GB = 1e9;
    /**
     * Queries, keys, values, heads and neurons over all positions: per-position estimates of a 1B shape at 4,096
     * tokens would be a gigabyte of host arrays, which is not what is measured here.
     */
    private static final NodeSet NODES = NodeSet.attentionAndNeurons().withPerPosition(false);

    private final ComputeContext compute;
    private final int longest;
    private final int shortest;
    private final List<String> only;

    /**
     * @param longest the longest prompt of the tiny shape's sweep (the 1B shape's stops at 2,048: at 4,096 one method
     *     takes some ten minutes on 2 cores)
     * @param shortest the tiny shape's shortest prompt: lengths double from it
     * @param only run only the methods whose names begin with one of these (any case); all when empty
     */
    public MemorySweep(ComputeContext compute, int longest, int shortest, List<String> only) {
        if (shortest < 1) {
            throw new IllegalArgumentException("--sweep-from must be positive, got " + shortest);
        }
        this.compute = compute;
        this.longest = longest;
        this.shortest = shortest;
        this.only = only.stream().map(s -> s.toLowerCase(Locale.ROOT)).toList();
    }

    private boolean chosen(Measured m) {
        String name = m.name().toLowerCase(Locale.ROOT);
        return only.isEmpty() || only.stream().anyMatch(name::startsWith);
    }

    /** The tiny Llama (d_model 64, 2 layers) widened to 8 query heads over 4 key/value heads. */
    static ModelConfig tinyLlamaWide() {
        return Benchmark.llama1b().toBuilder()
                .nLayers(2)
                .nHeads(8)
                .nKvHeads(4)
                .dModel(64)
                .dHead(8)
                .rotaryDim(8)
                .dMlp(128)
                .vocabSize(300)
                .attnScale(1.0 / Math.sqrt(8))
                .layers(null)
                .build();
    }

    /** Llama 3.2 1B's shape with 4 of its 16 layers. */
    static ModelConfig llama1bFourLayers() {
        return Benchmark.llama1b().toBuilder().nLayers(4).layers(null).build();
    }

    /**
     * A method measured, the longest prompt it is run at (the plain passes stop where they would not fit), and what
     * the memory model the server plans with estimates for one pair of it.
     */
    private record Measured(String name, Run method, int upTo, Estimate estimate) {}

    /** One run of a method over some pairs. */
    private interface Run {
        void on(HookedTransformer model, List<PromptPair> pairs);

        /** A node method over the sweep's nodes. */
        static Run nodes(Supplier<AttributionMethod> method) {
            return (model, pairs) -> method.get().run(model, pairs, NODES);
        }

        /** An edge estimate over all positions, plain or recomputed. */
        static Run edges(EdgeAttribution.Method method, boolean recomputed) {
            return (model, pairs) -> EdgeAttribution.run(
                    PassRunner.direct(model),
                    pairs,
                    new EdgeAttribution.Settings(method, false, 5, 1, 64, recomputed),
                    EdgeAttribution.Listener.NONE);
        }
    }

    /** One pair's bytes by the memory model, from the model's budget arithmetic. */
    private interface Estimate {
        long bytes(Budget b, int length);
    }

    /**
     * The sweep's nodes include queries and keys: the QK fix's terms count for AtP*. Edges over all positions: EAP and
     * edge AtP*, plain and recomputed.
     */
    private static List<Measured> methods(int longest, int plainAtP, int plainStar, int plainEap, int plainEdgeStar) {
        EdgeAttribution.Method eap = EdgeAttribution.Method.EAP;
        EdgeAttribution.Method star = EdgeAttribution.Method.ATP_STAR;
        return List.of(
                new Measured(
                        "AtP, recomputed",
                        Run.nodes(() -> new AtP(false, 1, true)),
                        longest,
                        (b, t) -> b.layerwiseGradientRowBytes(t, false, false, false, false)),
                new Measured(
                        "AtP*, recomputed",
                        Run.nodes(() -> new AtPStar(1, true)),
                        longest,
                        (b, t) -> b.layerwiseGradientRowBytes(t, true, true, false, false)),
                new Measured(
                        "AtP, plain",
                        Run.nodes(() -> new AtP(false, 1)),
                        plainAtP,
                        (b, t) -> b.gradientRowBytes(t, false, false)),
                new Measured(
                        "AtP*, plain",
                        Run.nodes(() -> new AtPStar(1)),
                        plainStar,
                        (b, t) -> b.gradientRowBytes(t, true, true)),
                new Measured(
                        "EAP, recomputed",
                        Run.edges(eap, true),
                        longest,
                        (b, t) -> b.layerwiseEdgeRowBytes(t, eap.estimate(), 5, false)),
                new Measured(
                        "edge AtP*, recomputed",
                        Run.edges(star, true),
                        longest,
                        (b, t) -> b.layerwiseEdgeRowBytes(t, star.estimate(), 5, false)),
                new Measured(
                        "EAP, plain", Run.edges(eap, false), plainEap, (b, t) -> b.edgeRowBytes(t, eap.estimate(), 5)),
                new Measured(
                        "edge AtP*, plain",
                        Run.edges(star, false),
                        plainEdgeStar,
                        (b, t) -> b.edgeRowBytes(t, star.estimate(), 5)));
    }

    public List<Benchmark.Row> run() {
        List<Benchmark.Row> rows = new ArrayList<>();
        if (!ResidentMemory.supported()) {
            rows.add(new Benchmark.Row("memory sweep", 0, 0, "not measured: needs Linux's /proc/self"));
            return rows;
        }
        List<Integer> tiny = new ArrayList<>();
        for (int t = shortest; t <= longest; t *= 2) {
            tiny.add(t);
        }
        rows.addAll(sweep(
                "tiny Llama, 8 heads",
                tinyLlamaWide(),
                tiny,
                methods(
                        longest,
                        Math.min(longest, 4096),
                        Math.min(longest, 2048),
                        Math.min(longest, 4096),
                        Math.min(longest, 1024))));
        rows.addAll(sweep(
                "Llama 3.2 1B shape, 4 layers",
                llama1bFourLayers(),
                List.of(512, 1024, 2048),
                methods(2048, 2048, 1024, 1024, 512)));
        return rows;
    }

    private List<Benchmark.Row> sweep(String shape, ModelConfig config, List<Integer> lengths, List<Measured> methods) {
        List<Benchmark.Row> rows = new ArrayList<>();
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        try (NDManager weights = compute.newScope()) {
            HookedTransformer model = Families.build(config, new RandomWeights(weights), weights);
            long loaded = ResidentMemory.currentBytes();
            for (Measured m : methods) {
                if (!chosen(m)) {
                    continue;
                }
                double[] peaks = new double[lengths.size()];
                double[] seconds = new double[lengths.size()];
                int measured = 0;
                for (int i = 0; i < lengths.size() && lengths.get(i) <= m.upTo(); i++) {
                    int length = lengths.get(i);
                    List<PromptPair> pairs = List.of(pair(length, config.vocabSize()));
                    long start = System.nanoTime();
                    long peak = ResidentMemory.peakDuring(() -> m.method().on(model, pairs));
                    seconds[i] = (System.nanoTime() - start) / 1e9;
                    peaks[i] = Math.max(0, peak - loaded) / GB;
                    measured = i + 1;
                    // Each point as it is measured: the longest take minutes, and the table prints at the end.
                    System.err.printf(
                            Locale.ROOT,
                            "sweep: %s, %s, %d tokens: %.1f s, %.3f GB above the model%n",
                            shape,
                            m.name(),
                            length,
                            seconds[i],
                            peaks[i]);
                    rows.add(new Benchmark.Row(
                            String.format(Locale.ROOT, "sweep: %s, %s, %d tokens", shape, m.name(), length),
                            seconds[i],
                            0,
                            String.format(
                                    Locale.ROOT,
                                    "measured %.3f GB above the model; the memory model estimates %.3f GB",
                                    peaks[i],
                                    m.estimate().bytes(new Budget(config, Float.BYTES, 1), length) / GB)));
                }
                if (measured >= 2) {
                    double slope = Math.log(peaks[measured - 1] / peaks[measured - 2])
                            / Math.log((double) lengths.get(measured - 1) / lengths.get(measured - 2));
                    rows.add(new Benchmark.Row(
                            String.format(Locale.ROOT, "sweep: %s, %s, growth", shape, m.name()),
                            0,
                            0,
                            String.format(
                                    Locale.ROOT,
                                    "peak ~ T^%.2f from %d to %d tokens",
                                    slope,
                                    lengths.get(measured - 2),
                                    lengths.get(measured - 1))));
                }
            }
        }
        return rows;
    }

    private static PromptPair pair(int length, int vocab) {
        Random random = new Random(42);
        int[] clean = random.ints(length, 0, vocab).toArray();
        int[] noise = random.ints(length, 0, vocab).toArray();
        return new PromptPair(clean, noise, Metric.logitDiff(new int[] {5}, new int[] {7}));
    }
}
