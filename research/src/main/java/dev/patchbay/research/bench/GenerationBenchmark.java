package dev.patchbay.research.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.patchbay.generation.Generation;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Intervention;
import dev.patchbay.model.KvCache;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.family.Families;
import dev.patchbay.passes.GenerationStep;
import dev.patchbay.passes.PassContext;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Generation on the random GPT-2-small-shaped model: a decode step with the KV cache against a full recompute at 64
 * and 256 tokens of context, tokens per second for one stream and for 16 batched, and the cost of an active
 * intervention (a vector added to the residual stream at every position) over plain generation.
 */
public final class GenerationBenchmark {
    private static final int NEW_TOKENS = 32;
    private static final int PROMPT = 16;

    private final int repeats;
    private final ComputeContext compute;

    public GenerationBenchmark(int repeats, ComputeContext compute) {
        this.repeats = repeats;
        this.compute = compute;
    }

    public List<Benchmark.Row> run() {
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        ModelConfig config = Benchmark.gpt2Small();
        try (NDManager weights = compute.newScope()) {
            HookedTransformer model = Families.build(config, new RandomWeights(weights), weights);
            PassRunner runner = PassRunner.direct(model);
            Random random = new Random(7);
            List<Benchmark.Row> rows = new ArrayList<>();
            for (int context : new int[] {64, 256}) {
                int[] prompt = random.ints(context, 0, config.vocabSize()).toArray();
                int[] next = {random.nextInt(config.vocabSize())};
                double cached = cachedStep(model, prompt, next);
                int[] whole = Arrays.copyOf(prompt, context + 1);
                whole[context] = next[0];
                double recompute = Benchmark.median(
                        repeats,
                        () -> new GenerationStep(List.of(), List.of(new GenerationStep.Row(whole, List.of())))
                                .run(PassContext.of(model)));
                rows.add(new Benchmark.Row(
                        "decode step at " + context + " tokens: KV cache",
                        cached,
                        0,
                        String.format("%.1fx faster than the full recompute (%.4f s)", recompute / cached, recompute)));
            }
            rows.add(mergedStep(model, config, random));
            double[] v = new double[config.dModel()];
            Arrays.fill(v, 0.01);
            List<Generation.Steer> steer = List.of(new Generation.Steer(
                    new Intervention("blocks.6.hook_resid_pre", Intervention.Op.ADD, 0, null, null, v, 1),
                    Generation.Positions.ALL));
            for (int streams : new int[] {1, 16}) {
                List<int[]> prompts = new ArrayList<>();
                for (int s = 0; s < streams; s++) {
                    prompts.add(random.ints(PROMPT, 0, config.vocabSize()).toArray());
                }
                Generation.Settings greedy = Generation.Settings.greedy(NEW_TOKENS);
                double plain =
                        Benchmark.median(repeats, () -> Generation.run(runner, prompts, List.of(), greedy, t -> {}));
                double steered =
                        Benchmark.median(repeats, () -> Generation.run(runner, prompts, steer, greedy, t -> {}));
                rows.add(new Benchmark.Row(
                        streams + (streams == 1 ? " stream" : " streams") + ": " + NEW_TOKENS + " new tokens each",
                        plain,
                        0,
                        String.format(
                                "%.0f tokens/s; with an active intervention %.3fx the time (target <= 1.1x)",
                                streams * NEW_TOKENS / plain, steered / plain)));
            }
            rows.add(concurrentRequests(model, config, random));
            return rows;
        }
    }

    /**
     * 16 Generate requests of one prompt each, sent at once through a server on the loopback: the device merges
     * their steps into shared batches (each request's rows attending to its own KV cache), against the 16 prompts
     * batched in one request.
     */
    private Benchmark.Row concurrentRequests(HookedTransformer model, ModelConfig config, Random random) {
        int streams = 16;
        dev.patchbay.checkpoint.LoadedModel loaded = dev.patchbay.checkpoint.LoadedModel.inMemory("gpt2", model);
        dev.patchbay.server.PatchbayServer server;
        try {
            server = dev.patchbay.server.PatchbayServer.start(
                    0,
                    java.util.Map.of(loaded.name(), loaded),
                    dev.patchbay.execution.SchedulerConfig.defaults(),
                    dev.patchbay.server.config.ServerLimits.defaults());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        io.grpc.ManagedChannel channel = io.grpc.Grpc.newChannelBuilderForAddress(
                        "127.0.0.1", server.port(), io.grpc.InsecureChannelCredentials.create())
                .build();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(streams);
        try {
            List<dev.patchbay.proto.v1.GenerateRequest> requests = new ArrayList<>();
            dev.patchbay.proto.v1.GenerateRequest.Builder batched = dev.patchbay.proto.v1.GenerateRequest.newBuilder()
                    .setModel("gpt2")
                    .setMaxNewTokens(NEW_TOKENS);
            for (int s = 0; s < streams; s++) {
                dev.patchbay.proto.v1.Prompt prompt = dev.patchbay.proto.v1.Prompt.newBuilder()
                        .setIds(dev.patchbay.proto.v1.TokenIds.newBuilder()
                                .addAllIds(random.ints(PROMPT, 0, config.vocabSize())
                                        .boxed()
                                        .toList()))
                        .build();
                batched.addPrompts(prompt);
                requests.add(dev.patchbay.proto.v1.GenerateRequest.newBuilder()
                        .setModel("gpt2")
                        .setMaxNewTokens(NEW_TOKENS)
                        .addPrompts(prompt)
                        .build());
            }
            double one = Benchmark.median(
                    repeats,
                    () -> dev.patchbay.proto.v1.PatchbayGrpc.newBlockingStub(channel)
                            .generate(batched.build())
                            .forEachRemaining(e -> {}));
            double concurrent = Benchmark.median(repeats, () -> {
                List<java.util.concurrent.Future<?>> done = new ArrayList<>();
                for (dev.patchbay.proto.v1.GenerateRequest r : requests) {
                    done.add(pool.submit(() -> dev.patchbay.proto.v1.PatchbayGrpc.newBlockingStub(channel)
                            .generate(r)
                            .forEachRemaining(e -> {})));
                }
                for (java.util.concurrent.Future<?> f : done) {
                    try {
                        f.get();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
            });
            return new Benchmark.Row(
                    streams + " concurrent Generate requests through the server",
                    concurrent,
                    0,
                    String.format(
                            "%.0f tokens/s; one request of the %d prompts: %.0f tokens/s",
                            streams * NEW_TOKENS / concurrent, streams, streams * NEW_TOKENS / one));
        } finally {
            pool.shutdownNow();
            channel.shutdownNow();
            try {
                server.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * A decode step of 16 sequences at 64 tokens of context held in 16 caches, as when the device merges the steps
     * of 16 requests (each cache's rows attend to their own keys and values), against one cache of 16 rows.
     */
    private Benchmark.Row mergedStep(HookedTransformer model, ModelConfig config, Random random) {
        int sequences = 16;
        List<GenerationStep.Row> prompts = new ArrayList<>();
        List<GenerationStep.Row> next = new ArrayList<>();
        for (int s = 0; s < sequences; s++) {
            prompts.add(new GenerationStep.Row(
                    random.ints(64, 0, config.vocabSize()).toArray(), List.of()));
            next.add(new GenerationStep.Row(new int[] {random.nextInt(config.vocabSize())}, List.of()));
        }
        double[][] times = new double[2][repeats + 1];
        for (int i = 0; i < repeats + 1; i++) {
            for (int split = 0; split < 2; split++) {
                List<KvCache> caches = new ArrayList<>();
                try {
                    if (split == 0) {
                        caches.add(model.newKvCache(sequences));
                        new GenerationStep(caches, prompts).run(PassContext.of(model));
                    } else {
                        for (GenerationStep.Row prompt : prompts) {
                            caches.add(model.newKvCache(1));
                            new GenerationStep(List.of(caches.get(caches.size() - 1)), List.of(prompt))
                                    .run(PassContext.of(model));
                        }
                    }
                    long start = System.nanoTime();
                    new GenerationStep(caches, next).run(PassContext.of(model));
                    times[split][i] = (System.nanoTime() - start) / 1e9;
                } finally {
                    caches.forEach(KvCache::close);
                }
            }
        }
        double one = medianAfterWarmUp(times[0]);
        double many = medianAfterWarmUp(times[1]);
        return new Benchmark.Row(
                "decode step of 16 sequences at 64 tokens: 16 caches",
                many,
                0,
                String.format("%.2fx the time of one cache of 16 rows (%.4f s)", many / one, one));
    }

    private static double medianAfterWarmUp(double[] times) {
        double[] timed = Arrays.copyOfRange(times, 1, times.length);
        Arrays.sort(timed);
        return timed[timed.length / 2];
    }

    /** Median time of one new token against a cache of the prompt (filled before each timing, after a warm-up). */
    private double cachedStep(HookedTransformer model, int[] prompt, int[] next) {
        double[] times = new double[repeats + 1];
        for (int i = 0; i < times.length; i++) {
            try (KvCache cache = model.newKvCache(1)) {
                new GenerationStep(List.of(cache), List.of(new GenerationStep.Row(prompt, List.of())))
                        .run(PassContext.of(model));
                long start = System.nanoTime();
                new GenerationStep(List.of(cache), List.of(new GenerationStep.Row(next, List.of())))
                        .run(PassContext.of(model));
                times[i] = (System.nanoTime() - start) / 1e9;
            }
        }
        return medianAfterWarmUp(times);
    }
}
