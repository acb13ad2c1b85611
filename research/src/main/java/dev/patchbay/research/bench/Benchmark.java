package dev.patchbay.research.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.patchbay.attribution.ActivationPatching;
import dev.patchbay.attribution.AtP;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.execution.Device;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.model.family.Families;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * Times the attribution methods on a randomly initialised model of one of {@link ModelShape}'s shapes (by default
 * GPT-2 small: 12 layers, d_model 768, 12 heads, d_mlp 3072, vocab 50257; fixed seed) and one prompt pair, and
 * reports each as a ratio to one clean forward pass measured in the same run, since absolute times on shared
 * machines are noisy; also the libtorch ops a forward and an AtP issue ({@link OpCount}).
 */
public final class Benchmark {
    /** One measurement: the median of several timed runs, and its ratio to one forward pass. */
    public record Row(String name, double medianSeconds, double ratioToForward, String target) {}

    /** The names of the rows tools/torch_reference.py measures too (TorchReference sets them side by side). */
    static final String FORWARD = "clean forward";

    static final String ATP = "AtP, attention + neuron nodes";
    static final String AP_BATCHED = "activation patching of every head, batched + resumed";
    static final String SWEEP = "AtP over a distribution of pairs";
    static final String SWEEP_EACH = "AtP of each pair, every effect returned";

    /** Single-pair jobs in flight at once in the per-pair sweep: the batch the reference's sweep uses too. */
    static final int SWEEP_WINDOW = 16;

    static final String FORWARD_OPS = "libtorch ops issued: clean forward";
    static final String ATP_OPS = "libtorch ops issued: AtP";

    /** The model shapes the benchmark times, with random weights (a model's speed does not depend on them). */
    public enum ModelShape {
        GPT2_SMALL(
                "gpt2-small", "random GPT-2-small shape (12 layers, d_model 768, 12 heads, d_mlp 3072, vocab 50257)"),
        LLAMA_1B(
                "llama-1b",
                "random Llama-3.2-1B shape (16 layers, d_model 2048, 32 heads over 8 key/value heads, d_mlp 8192,"
                        + " vocab 128256)"),
        /**
         * GPT-2 small's ops at almost no arithmetic: what is left is the cost of issuing each op, which bounds a
         * GPU's time when the host cannot dispatch kernels as fast as the GPU runs them.
         */
        GPT2_NARROW(
                "gpt2-narrow",
                "random GPT-2-small layout at a narrow width (12 layers, 12 heads of d_head 4, d_model 48, d_mlp 192,"
                        + " vocab 1000): times the per-op cost");

        private final String id;
        private final String description;

        ModelShape(String id, String description) {
            this.id = id;
            this.description = description;
        }

        public String id() {
            return id;
        }

        public String description() {
            return description;
        }

        /** The shape by its id (gpt2-small, llama-1b). */
        public static ModelShape of(String id) {
            for (ModelShape s : values()) {
                if (s.id.equals(id)) {
                    return s;
                }
            }
            throw new IllegalArgumentException(
                    "--shape: unknown '" + id + "'; use gpt2-small, llama-1b or gpt2-narrow");
        }

        ModelConfig config() {
            return switch (this) {
                case GPT2_SMALL -> gpt2Small();
                case LLAMA_1B -> llama1b();
                case GPT2_NARROW -> gpt2Narrow();
            };
        }

        /** Whether tools/torch_reference.py builds this shape too. */
        public boolean hasTorchReference() {
            return this != LLAMA_1B;
        }
    }

    private final ModelShape shape;
    private final int tokens;
    private final int repeats;
    private final int sweepPairs;
    private final ComputeContext compute;

    /** @param sweepPairs pairs of the distribution whose AtP throughput is measured, 16 to a batch */
    public Benchmark(ModelShape shape, int tokens, int repeats, int sweepPairs, ComputeContext compute) {
        this.shape = shape;
        this.tokens = tokens;
        this.repeats = repeats;
        this.sweepPairs = sweepPairs;
        this.compute = compute;
    }

    /** Llama 3.2 1B's shape: grouped-query attention, SwiGLU, tied embeddings (rotary unscaled: speed is alike). */
    static ModelConfig llama1b() {
        return ModelConfig.builder(Architecture.LLAMA)
                .nLayers(16)
                .nHeads(32)
                .nKvHeads(8)
                .dModel(2048)
                .dHead(64)
                .dMlp(8192)
                .vocabSize(128256)
                .maxPositions(131072)
                .normEps(1e-5)
                .activation("silu")
                .rotaryDim(64)
                .ropeTheta(500000)
                .tiedEmbeddings(true)
                .attnScale(1.0 / 8)
                .normalization(ModelConfig.Normalization.RMS_NORM)
                .build();
    }

    public static ModelConfig gpt2Small() {
        return gpt2(768, 64, 3072, 50257);
    }

    /** GPT-2 small's layers and heads (so its op count) at d_head 4; tools/torch_reference.py's "narrow". */
    static ModelConfig gpt2Narrow() {
        return gpt2(48, 4, 192, 1000);
    }

    /** GPT-2's layout with 12 layers of 12 heads at the given widths. */
    private static ModelConfig gpt2(int dModel, int dHead, int dMlp, int vocab) {
        return ModelConfig.builder(Architecture.GPT2)
                .nLayers(12)
                .nHeads(12)
                .nKvHeads(12)
                .dModel(dModel)
                .dHead(dHead)
                .dMlp(dMlp)
                .vocabSize(vocab)
                .maxPositions(1024)
                .normEps(1e-5)
                .activation("gelu_new")
                .ropeTheta(0)
                .tiedEmbeddings(true)
                .attentionBias(true)
                .mlpBias(true)
                .attnScale(1.0 / Math.sqrt(dHead))
                .normalization(ModelConfig.Normalization.LAYER_NORM)
                .build();
    }

    public List<Row> run() {
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        ModelConfig config = shape.config();
        try (NDManager weights = compute.newScope()) {
            HookedTransformer model = Families.build(config, new RandomWeights(weights), weights);
            Random random = new Random(42);
            int[] clean = random.ints(tokens, 0, config.vocabSize()).toArray();
            int[] noise = random.ints(tokens, 0, config.vocabSize()).toArray();
            PromptPair pair = new PromptPair(clean, noise, Metric.logitDiff(new int[] {100}, new int[] {200}));
            List<PromptPair> pairs = List.of(pair);
            int layers = config.nLayers();

            Runnable oneForward = () -> {
                try (NDManager scope = model.compute().newScope()) {
                    model.forward(scope, TokenBatch.of(clean), Hooks.NONE)
                            .logits()
                            .toFloatArray();
                }
            };
            double forward = median(repeats, oneForward);
            NodeSet nodes = NodeSet.attentionAndNeurons();
            double atp = median(method(model, new AtP(false, 1), pairs, nodes));
            OpCount.Counts forwardOps = OpCount.of(oneForward);
            OpCount.Counts atpOps = OpCount.of(
                    () -> method(model, new AtP(false, 1), pairs, nodes).get());
            double atpStar = median(method(model, new AtPStar(1), pairs, nodes));
            NodeSet heads = NodeSet.heads();
            double batched = median(method(model, new ActivationPatching(48), pairs, heads));
            // One full forward per head: 144 for GPT-2 small, 512 for the 1B shape (minutes on a CPU): the GPT-2 shapes
            // only.
            double naive = shape != ModelShape.LLAMA_1B
                    ? median(() -> {
                        naivePatching(model, pair, config);
                        return null;
                    })
                    : 0;
            List<PromptPair> distribution = new ArrayList<>();
            for (int p = 0; p < sweepPairs; p++) {
                distribution.add(new PromptPair(
                        random.ints(tokens, 0, config.vocabSize()).toArray(),
                        random.ints(tokens, 0, config.vocabSize()).toArray(),
                        pair.metric()));
            }
            double sweep = median(method(model, new AtP(false, 16), distribution, nodes));
            Supplier<List<PromptPair>> fresh = () -> randomPairs(random, config, pair.metric());
            long expected = sweepPairs * nodes.count(config, tokens);
            double each = median(repeats, () -> expect(expected, PerPairSweep.batched(model, fresh.get(), nodes)));
            double jobs = eachPairAsJobs(model, fresh, nodes, expected);

            List<Row> rows = new ArrayList<>();
            rows.add(new Row(FORWARD, forward, 1, ""));
            rows.add(new Row(ATP, atp, atp / forward, "<= 4x"));
            rows.add(opsRow(FORWARD_OPS, forwardOps));
            rows.add(opsRow(ATP_OPS, atpOps));
            rows.add(new Row(
                    "AtP*, attention + neuron nodes",
                    atpStar,
                    atpStar / forward,
                    "<= " + (2 * layers + 4) + "x, stretch " + (layers + 4) + "x"));
            rows.add(new Row(AP_BATCHED, batched, batched / forward, ""));
            if (naive > 0) {
                rows.add(new Row(
                        "activation patching of every head, naive",
                        naive,
                        naive / forward,
                        String.format("batched >= 2x faster (measured %.1fx)", naive / batched)));
            }
            rows.add(new Row(
                    SWEEP,
                    sweep,
                    sweep / forward,
                    String.format("%d pairs, 16 a batch: %.2f pairs/s", sweepPairs, sweepPairs / sweep)));
            rows.add(new Row(
                    SWEEP_EACH,
                    each,
                    each / forward,
                    String.format("%d pairs, %d a call: %.2f pairs/s", sweepPairs, SWEEP_WINDOW, sweepPairs / each)));
            rows.add(new Row(
                    SWEEP_EACH + ", as single-pair jobs",
                    jobs,
                    jobs / forward,
                    String.format(
                            "through the device's queue, %d at once: %.2f pairs/s", SWEEP_WINDOW, sweepPairs / jobs)));
            return rows;
        }
    }

    /**
     * The median time of a sweep of single-pair AtP jobs, {@link #SWEEP_WINDOW} at a time through a {@link Device}
     * (which merges their passes into batches, as the server does for a Sweep), every pair's per-position effects
     * returned.
     */
    private double eachPairAsJobs(
            HookedTransformer model, Supplier<List<PromptPair>> fresh, NodeSet nodes, long expected) {
        ExecutorService pool = Executors.newFixedThreadPool(SWEEP_WINDOW);
        try (Device device = new Device("bench", model, SchedulerConfig.defaults())) {
            return median(repeats, () -> expect(expected, PerPairSweep.inProcess(device, fresh.get(), nodes, pool)));
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * {@code sweepPairs} new random pairs: each run of a sweep gets its own, since the device's clean cache would
     * serve repeated ones (a sweep's prompts are its own).
     */
    private List<PromptPair> randomPairs(Random random, ModelConfig config, Metric metric) {
        List<PromptPair> pairs = new ArrayList<>();
        for (int p = 0; p < sweepPairs; p++) {
            pairs.add(new PromptPair(
                    random.ints(tokens, 0, config.vocabSize()).toArray(),
                    random.ints(tokens, 0, config.vocabSize()).toArray(),
                    metric));
        }
        return pairs;
    }

    /** Fails a sweep that returned fewer or more effects than it should, instead of timing it as fast. */
    static void expect(long expected, long effects) {
        if (effects != expected) {
            throw new IllegalStateException(effects + " effects returned, " + expected + " expected");
        }
    }

    /** A row that reports a count of ops rather than a time (the time columns stay empty). */
    private static Row opsRow(String name, OpCount.Counts counts) {
        return new Row(name, 0, 0, String.format("%d computing ops (%d in all)", counts.computing(), counts.ops()));
    }

    /** One full forward pass per head, each patching that head's output at every position. */
    private static void naivePatching(HookedTransformer model, PromptPair pair, ModelConfig config) {
        try (NDManager scope = model.compute().newScope()) {
            List<String> sites = new ArrayList<>();
            for (int l = 0; l < config.nLayers(); l++) {
                sites.add(dev.patchbay.model.HookSites.attn(l, "z"));
            }
            var noise = model.forward(
                    scope,
                    TokenBatch.of(pair.noise()),
                    Hooks.builder().cache(sites).build());
            for (int l = 0; l < config.nLayers(); l++) {
                for (int h = 0; h < config.nHeads(); h++) {
                    try (NDManager run = scope.newSubManager()) {
                        String site = sites.get(l);
                        model.forward(
                                        run,
                                        TokenBatch.of(pair.clean()),
                                        Hooks.builder()
                                                .patch(
                                                        site,
                                                        dev.patchbay.model.Patch.of(
                                                                0,
                                                                noise.activation(site)
                                                                        .get("0"),
                                                                null,
                                                                new int[] {h}))
                                                .build())
                                .logits()
                                .get("0, -1")
                                .toFloatArray();
                    }
                }
            }
        }
    }

    private static Supplier<Void> method(
            HookedTransformer model, AttributionMethod m, List<PromptPair> pairs, NodeSet nodes) {
        return () -> {
            m.run(model, pairs, nodes);
            return null;
        };
    }

    private double median(Supplier<Void> work) {
        return median(repeats, work::get);
    }

    /**
     * Median wall time of {@code repeats} runs after warm-up runs, every section's timer. The warm-up runs at least
     * once and on until a second has passed or 50 runs are done: the JVM compiles the hot paths only after many
     * calls, and after a single warm-up run a forward of the narrow shape still took three times its settled time.
     */
    static double median(int repeats, Runnable work) {
        long warmUpStart = System.nanoTime();
        int warmUps = 0;
        do {
            work.run();
            warmUps++;
        } while (warmUps < 50 && System.nanoTime() - warmUpStart < 1_000_000_000L);
        double[] times = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long start = System.nanoTime();
            work.run();
            times[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(times);
        return times[repeats / 2];
    }

    /** The rows as a JSON-ready map. */
    public static Map<String, Object> toMap(List<Row> rows, ModelShape shape, int tokens, int repeats) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("model", shape.description());
        out.put("tokens", tokens);
        out.put("repeats", repeats);
        out.put("threads", Runtime.getRuntime().availableProcessors());
        out.put("rows", rows);
        return out;
    }
}
