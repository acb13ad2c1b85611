package dev.patchbay.research.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.Device;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.family.Families;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.PromptPair;
import dev.patchbay.proto.v1.Token;
import dev.patchbay.proto.v1.TokenIds;
import dev.patchbay.server.PatchbayServer;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.IntStream;

/**
 * The service's overheads on the random GPT-2-small-shaped model: an AtP* request through gRPC against the
 * same computation in-process, concurrent clients against the same requests one after another, a repeated
 * request whose clean prompt is cached against the first, a sweep of single-pair jobs in-process against the
 * same through one Sweep stream, and the Python client's figures against a
 * TransformerLens loop (see {@link PythonClients}). Served requests ask for packed values, as both clients do.
 */
public final class ServiceBenchmark {
    private final int tokens;
    private final int repeats;
    private final int sweepPairs;
    private final ComputeContext compute;

    /** @param sweepPairs pairs of the sweep of single-pair jobs timed in-process and through gRPC */
    public ServiceBenchmark(int tokens, int repeats, int sweepPairs, ComputeContext compute) {
        this.tokens = tokens;
        this.repeats = repeats;
        this.sweepPairs = sweepPairs;
        this.compute = compute;
    }

    public List<Benchmark.Row> run() throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        ModelConfig config = Benchmark.gpt2Small();
        List<Benchmark.Row> rows = new ArrayList<>();
        try (NDManager weights = compute.newScope()) {
            HookedTransformer model = Families.build(config, new RandomWeights(weights), weights);
            LoadedModel loaded = LoadedModel.inMemory("gpt2-small-random", model);
            // The sweep rows run Benchmark.SWEEP_WINDOW single-pair jobs at once, in-process and through gRPC alike.
            ServerLimits limits = ServerLimits.defaults().withSweepWindow(Benchmark.SWEEP_WINDOW);
            PatchbayServer server =
                    PatchbayServer.start(0, Map.of(loaded.name(), loaded), SchedulerConfig.defaults(), limits);
            ManagedChannel channel = Grpc.newChannelBuilderForAddress(
                            "127.0.0.1", server.port(), InsecureChannelCredentials.create())
                    .maxInboundMessageSize(64 << 20)
                    .build();
            try {
                Random random = new Random(7);
                PromptPair pair = pair(random, config);
                AttributeRequest atpStar = AttributeRequest.newBuilder()
                        .setModel(loaded.name())
                        .addPairs(pair)
                        .setMethod(Method.ATP_STAR)
                        .setNodes(nodes())
                        .setPackedValues(true)
                        .build();
                double[] firstBlock = new double[1];
                // Alternate the two so that drift in the machine's speed hits both alike.
                double[] both = interleavedMedians(
                        () -> new AtPStar(1).run(model, List.of(domain(pair)), NodeSet.attentionAndNeurons()),
                        () -> firstBlock[0] = timeToFirstBlock(channel, atpStar));
                double inProcess = both[0];
                double served = both[1];
                rows.add(new Benchmark.Row("AtP* in-process", inProcess, 0, ""));
                rows.add(new Benchmark.Row(
                        "AtP* through gRPC, total",
                        served,
                        0,
                        String.format("overhead <= 10%% (measured %+.1f%%)", 100 * (served / inProcess - 1))));
                rows.add(new Benchmark.Row("AtP* through gRPC, first effect block", firstBlock[0], 0, ""));

                int clients = 8;
                // Fresh pairs for every run: repeated prompts would be served from the clean cache.
                Supplier<List<AttributeRequest>> fresh = () -> IntStream.range(0, clients)
                        .mapToObj(i -> AttributeRequest.newBuilder()
                                .setModel(loaded.name())
                                .addPairs(pair(random, config))
                                .setMethod(Method.ATP)
                                .setNodes(nodes())
                                .setPackedValues(true)
                                .build())
                        .toList();
                double oneByOne = median(() -> fresh.get().forEach(r -> drain(channel, r)));
                ExecutorService pool = Executors.newFixedThreadPool(clients);
                long sharedBefore = server.device(loaded.name()).sharedBatches();
                double concurrent = median(() -> {
                    List<Future<AttributeEvent>> fs = fresh.get().stream()
                            .map(r -> pool.submit(() -> drain(channel, r)))
                            .toList();
                    for (Future<AttributeEvent> f : fs) {
                        try {
                            f.get();
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }
                });
                pool.shutdown();
                long shared = server.device(loaded.name()).sharedBatches() - sharedBefore;
                rows.add(new Benchmark.Row(clients + " AtP requests one after another", oneByOne, 0, ""));
                rows.add(new Benchmark.Row(
                        clients + " AtP requests from concurrent clients",
                        concurrent,
                        0,
                        String.format(
                                ">= 1.5x throughput (measured %.2fx; %d shared batches)",
                                oneByOne / concurrent, shared)));

                AttributeRequest patching = AttributeRequest.newBuilder()
                        .setModel(loaded.name())
                        .addPairs(pair(random, config))
                        .setMethod(Method.ATP)
                        .setVerifyTopK(20)
                        .setNodes(dev.patchbay.proto.v1.NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT))
                        .setPackedValues(true)
                        .build();
                long start = System.nanoTime();
                drain(channel, patching);
                double first = (System.nanoTime() - start) / 1e9;
                start = System.nanoTime();
                AttributeEvent summary = drain(channel, patching);
                double second = (System.nanoTime() - start) / 1e9;
                rows.add(new Benchmark.Row("AtP + verify top 20 heads, clean prompt not cached", first, 0, ""));
                rows.add(new Benchmark.Row(
                        "the same request again, clean prompt cached",
                        second,
                        0,
                        String.format(
                                "%.2fx faster, %d cache hit(s)",
                                first / second, summary.getSummary().getCacheHits())));
                rows.addAll(eachPairSweep(channel, server.device(loaded.name()), loaded.name(), random, config));
                rows.addAll(PythonClients.run(server.port(), loaded.name(), tokens, config.vocabSize(), 20, clients));
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                server.close();
            }
        }
        return rows;
    }

    /**
     * A sweep of single-pair AtP jobs, each returning every effect per position, in-process (threads submitting to
     * the server's own device) against one Sweep stream through gRPC, alternated.
     */
    private List<Benchmark.Row> eachPairSweep(
            ManagedChannel channel, Device device, String model, Random random, ModelConfig config) {
        // Fresh pairs every run: the device's clean cache would serve repeated ones.
        Supplier<List<PromptPair>> fresh = () -> IntStream.range(0, sweepPairs)
                .mapToObj(i -> pair(random, config))
                .toList();
        NodeSet nodes = NodeSet.attentionAndNeurons();
        long expected = sweepPairs * nodes.count(config, tokens);
        ExecutorService pool = Executors.newFixedThreadPool(Benchmark.SWEEP_WINDOW);
        double[] both;
        try {
            both = interleavedMedians(
                    () -> {
                        List<dev.patchbay.nodes.PromptPair> pairs = fresh.get().stream()
                                .map(ServiceBenchmark::domain)
                                .toList();
                        Benchmark.expect(expected, PerPairSweep.inProcess(device, pairs, nodes, pool));
                    },
                    () -> {
                        List<AttributeRequest> jobs = fresh.get().stream()
                                .map(p -> AttributeRequest.newBuilder()
                                        .setModel(model)
                                        .addPairs(p)
                                        .setMethod(Method.ATP)
                                        .setNodes(nodes())
                                        .setPackedValues(true)
                                        .build())
                                .toList();
                        Benchmark.expect(expected, PerPairSweep.served(channel, jobs));
                    });
        } finally {
            pool.shutdownNow();
        }
        String what = String.format("%d pairs, %d at once", sweepPairs, Benchmark.SWEEP_WINDOW);
        return List.of(
                new Benchmark.Row(
                        "AtP of each pair, every effect returned, in-process",
                        both[0],
                        0,
                        String.format("%s: %.2f pairs/s", what, sweepPairs / both[0])),
                new Benchmark.Row(
                        "the same through gRPC, one Sweep stream",
                        both[1],
                        0,
                        String.format(
                                "%s: %.2f pairs/s; overhead %+.1f%%",
                                what, sweepPairs / both[1], 100 * (both[1] / both[0] - 1))));
    }

    private static dev.patchbay.proto.v1.NodeSet nodes() {
        return dev.patchbay.proto.v1.NodeSet.newBuilder()
                .addKinds(NodeKind.QUERY)
                .addKinds(NodeKind.KEY)
                .addKinds(NodeKind.VALUE)
                .addKinds(NodeKind.HEAD_OUTPUT)
                .addKinds(NodeKind.NEURON)
                .setPerPosition(true)
                .build();
    }

    private PromptPair pair(Random random, ModelConfig config) {
        int[] clean = random.ints(tokens, 0, config.vocabSize()).toArray();
        int[] noise = random.ints(tokens, 0, config.vocabSize()).toArray();
        return PromptPair.newBuilder()
                .setClean(Prompt.newBuilder()
                        .setIds(TokenIds.newBuilder()
                                .addAllIds(Arrays.stream(clean).boxed().toList())))
                .setNoise(Prompt.newBuilder()
                        .setIds(TokenIds.newBuilder()
                                .addAllIds(Arrays.stream(noise).boxed().toList())))
                .addAnswers(Token.newBuilder().setId(100))
                .addWrongs(Token.newBuilder().setId(200))
                .build();
    }

    private static dev.patchbay.nodes.PromptPair domain(PromptPair p) {
        return new dev.patchbay.nodes.PromptPair(
                p.getClean().getIds().getIdsList().stream().mapToInt(i -> i).toArray(),
                p.getNoise().getIds().getIdsList().stream().mapToInt(i -> i).toArray(),
                Metric.logitDiff(
                        new int[] {p.getAnswers(0).getId()},
                        new int[] {p.getWrongs(0).getId()}));
    }

    /** Reads a whole stream; returns its last event (the summary). */
    private static AttributeEvent drain(ManagedChannel channel, AttributeRequest request) {
        AttributeEvent last = null;
        Iterator<AttributeEvent> events = PatchbayGrpc.newBlockingStub(channel).attribute(request);
        while (events.hasNext()) {
            last = events.next();
        }
        return last;
    }

    /** Seconds to the first effect block; the stream is then read to its end. */
    private static double timeToFirstBlock(ManagedChannel channel, AttributeRequest request) {
        long start = System.nanoTime();
        double first = -1;
        Iterator<AttributeEvent> events = PatchbayGrpc.newBlockingStub(channel).attribute(request);
        while (events.hasNext()) {
            if (events.next().hasBlock() && first < 0) {
                first = (System.nanoTime() - start) / 1e9;
            }
        }
        return first;
    }

    /** Medians of {@code a} and {@code b} over 2 * repeats + 1 runs each, alternated. */
    private double[] interleavedMedians(Runnable a, Runnable b) {
        a.run();
        b.run();
        int n = 2 * repeats + 1;
        double[] ta = new double[n];
        double[] tb = new double[n];
        for (int i = 0; i < n; i++) {
            long start = System.nanoTime();
            a.run();
            ta[i] = (System.nanoTime() - start) / 1e9;
            start = System.nanoTime();
            b.run();
            tb[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(ta);
        Arrays.sort(tb);
        return new double[] {ta[n / 2], tb[n / 2]};
    }

    private double median(Runnable work) {
        return Benchmark.median(repeats, work);
    }
}
