package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import com.google.protobuf.Message;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.AttributeEdgesEvent;
import dev.patchbay.proto.v1.AttributeEdgesRequest;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.EdgeMethod;
import dev.patchbay.proto.v1.EffectBlock;
import dev.patchbay.proto.v1.GenerateEvent;
import dev.patchbay.proto.v1.GenerateRequest;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.Node;
import dev.patchbay.proto.v1.NodeGroup;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.NodeSet;
import dev.patchbay.proto.v1.PatchEvent;
import dev.patchbay.proto.v1.PatchRequest;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.PromptPair;
import dev.patchbay.proto.v1.SweepEvent;
import dev.patchbay.proto.v1.SweepRequest;
import dev.patchbay.proto.v1.Token;
import dev.patchbay.proto.v1.TokenIds;
import dev.patchbay.proto.v1.ValueEncoding;
import dev.patchbay.server.config.ServerLimits;
import dev.patchbay.server.mapping.Protos;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The streaming RPCs, over grpc-java's in-process transport. */
class AttributeServiceTest {
    static final String CLEAN = "When Mary and John went to the store, John gave a drink to";
    static final String NOISE = "When Mary and John went to the store, Mary gave a drink to";
    private static LoadedModel gpt2;
    private static LoadedModel llama;
    private static LoadedModel broken;
    private static PatchbayServer server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        gpt2 = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        llama = TestCheckpoints.load("tiny-llama", DataType.FLOAT32);
        broken = TestCheckpoints.load("tiny-neox", DataType.FLOAT32);
        // grpc-java's in-process transport: the service's behaviour without a socket (BackpressureTest, which needs
        // HTTP/2 flow control, and PatchbayServerTest keep Netty).
        String name = InProcessServerBuilder.generateName();
        server = PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                Map.of("tiny-gpt2", gpt2, "tiny-llama", llama, "broken", broken),
                new SchedulerConfig(32, 8192, Duration.ofMillis(20), 64L << 20),
                new ServerLimits(1 << 20, 64, 256, 100_000, 32, 4, 4096));
        channel = InProcessChannelBuilder.forName(name).build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        gpt2.close();
        llama.close();
    }

    static PromptPair pair(String clean, String noise) {
        return PromptPair.newBuilder()
                .setClean(Prompt.newBuilder().setText(clean))
                .setNoise(Prompt.newBuilder().setText(noise))
                .addAnswers(Token.newBuilder().setText(" Mary"))
                .addWrongs(Token.newBuilder().setText(" John"))
                .build();
    }

    static AttributeRequest.Builder request(String model, Method method, NodeSet nodes) {
        return AttributeRequest.newBuilder()
                .setModel(model)
                .addPairs(pair(CLEAN, NOISE))
                .setMethod(method)
                .setNodes(nodes);
    }

    static NodeSet perPosition(NodeKind... kinds) {
        return NodeSet.newBuilder()
                .addAllKinds(List.of(kinds))
                .setPerPosition(true)
                .build();
    }

    static List<AttributeEvent> collect(AttributeRequest request) {
        List<AttributeEvent> events = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).attribute(request).forEachRemaining(events::add);
        return events;
    }

    /**
     * Packed effects (the wire's fast form, what both clients ask for) carry the same float32 values as the repeated
     * field, little-endian, and the same blocks; edges too.
     */
    @Test
    void packedValuesAreTheRepeatedValuesAsLittleEndianBytes() {
        AttributeRequest plain = request("tiny-gpt2", Method.ATP, perPosition(NodeKind.HEAD_OUTPUT, NodeKind.NEURON))
                .build();
        List<EffectBlock> repeated = blocks(collect(plain));
        List<EffectBlock> packed =
                blocks(collect(plain.toBuilder().setPackedValues(true).build()));
        assertEquals(repeated.size(), packed.size());
        assertTrue(repeated.size() > 1);
        for (int i = 0; i < repeated.size(); i++) {
            EffectBlock r = repeated.get(i);
            EffectBlock p = packed.get(i);
            assertEquals(ValueEncoding.VALUES_REPEATED, r.getEncoding());
            assertEquals(ValueEncoding.FLOAT32_LE, p.getEncoding());
            assertEquals(0, p.getValuesCount(), "packed blocks leave the repeated field empty");
            assertEquals(
                    r.toBuilder().clearValues().build(),
                    p.toBuilder().clearPacked().clearEncoding().build());
            float[] read = new float[r.getValuesCount()];
            p.getPacked()
                    .asReadOnlyByteBuffer()
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .asFloatBuffer()
                    .get(read);
            for (int v = 0; v < read.length; v++) {
                assertEquals(r.getValues(v), read[v], 0f, "block " + i + " value " + v);
            }
        }
        AttributeEdgesRequest edges = AttributeEdgesRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair(CLEAN, NOISE))
                .setMethod(EdgeMethod.EAP)
                .setPackedValues(true)
                .build();
        List<AttributeEdgesEvent> events = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).attributeEdges(edges).forEachRemaining(events::add);
        dev.patchbay.proto.v1.EdgeBlock block = events.stream()
                .filter(AttributeEdgesEvent::hasBlock)
                .findFirst()
                .orElseThrow()
                .getBlock();
        assertEquals(ValueEncoding.FLOAT32_LE, block.getEncoding());
        assertEquals(
                (long) block.getReaders() * block.getWriters() * Float.BYTES,
                block.getPacked().size());
    }

    private static List<EffectBlock> blocks(List<AttributeEvent> events) {
        return events.stream()
                .filter(AttributeEvent::hasBlock)
                .map(AttributeEvent::getBlock)
                .toList();
    }

    @Test
    void blocksStreamBeforeTheSummaryAndMatchTheEngine() {
        List<AttributeEvent> events = collect(request(
                        "tiny-llama",
                        Method.ATP_STAR,
                        perPosition(
                                NodeKind.QUERY, NodeKind.KEY, NodeKind.VALUE, NodeKind.HEAD_OUTPUT, NodeKind.NEURON))
                .setVerifyTopK(5)
                .build());
        assertEquals(AttributeEvent.EventCase.ACCEPTED, events.get(0).getEventCase());
        assertEquals(
                AttributeEvent.EventCase.SUMMARY, events.get(events.size() - 1).getEventCase());
        List<EffectBlock> blocks = events.stream()
                .filter(AttributeEvent::hasBlock)
                .map(AttributeEvent::getBlock)
                .toList();
        assertEquals(2 * 5, blocks.size(), "one block per layer and node kind");
        assertEquals(
                events.get(0).getAccepted().getNodeCount(),
                blocks.stream().mapToInt(EffectBlock::getValuesCount).sum());
        assertEquals("nodes", events.get(0).getAccepted().getCountUnit());

        // The same computation in-process.
        var engine = new AtPStar(8)
                .run(
                        llama.transformer(),
                        List.of(new dev.patchbay.nodes.PromptPair(
                                llama.tokenizer().encode(CLEAN).ids(),
                                llama.tokenizer().encode(NOISE).ids(),
                                dev.patchbay.nodes.Metric.logitDiff(
                                        llama.tokenizer()
                                                .encodeFragment(" Mary")
                                                .ids(),
                                        llama.tokenizer()
                                                .encodeFragment(" John")
                                                .ids()))),
                        dev.patchbay.nodes.NodeSet.attentionAndNeurons());
        for (EffectBlock b : blocks) {
            var mine = engine.blocks().stream()
                    .filter(e -> e.layer() == b.getLayer() && Protos.kind(e.kind()) == b.getKind())
                    .findFirst()
                    .orElseThrow();
            for (int i = 0; i < b.getValuesCount(); i++) {
                assertEquals(mine.value(i), b.getValues(i), 1e-5 + 1e-5 * Math.abs(mine.value(i)));
            }
        }
        // Verified in rank order, with the exact effects of the top nodes.
        List<AttributeEvent> verified =
                events.stream().filter(AttributeEvent::hasVerified).toList();
        assertEquals(5, verified.size());
        List<AttributionResult.Scored> ranked = engine.ranked();
        for (int i = 0; i < 5; i++) {
            assertEquals(i + 1, verified.get(i).getVerified().getRank());
            assertEquals(
                    ranked.get(i).node().name(),
                    verified.get(i).getVerified().getNode().getName());
        }
        int firstVerified = events.indexOf(verified.get(0));
        assertTrue(
                events.stream()
                                .limit(firstVerified)
                                .filter(AttributeEvent::hasBlock)
                                .count()
                        == blocks.size(),
                "every block arrives before verification starts");
        var summary = events.get(events.size() - 1).getSummary();
        assertEquals("atp-star", summary.getMethod());
        assertTrue(summary.getMagnitudes(), "AtP* scores are magnitudes");
        assertTrue(summary.getForwardPasses() > 0 && summary.getCleanMetric() != summary.getNoiseMetric());
    }

    @Test
    void everyBaselineRunsThroughTheRpcAndReportsItsCost() {
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        var options = dev.patchbay.proto.v1.BaselineOptions.newBuilder()
                .setSamples(20)
                .setInclusionProbability(0.3)
                .setBlockSize(3)
                .setBranching(2)
                .setSeed(5)
                .build();
        for (Method m : List.of(Method.ITERATIVE, Method.SUBSAMPLING, Method.BLOCKS, Method.HIERARCHICAL)) {
            List<AttributeEvent> events = collect(request("tiny-gpt2", m, heads)
                    .setBaseline(options)
                    .setVerifyTopK(2)
                    .build());
            var summary = events.get(events.size() - 1).getSummary();
            assertEquals(
                    8,
                    events.stream()
                            .filter(AttributeEvent::hasBlock)
                            .mapToInt(e -> e.getBlock().getValuesCount())
                            .sum());
            assertEquals(2, events.stream().filter(AttributeEvent::hasVerified).count(), m.name());
            double own = switch (m) {
                case ITERATIVE -> 0;
                case SUBSAMPLING -> 2 + 20;
                case BLOCKS -> 2 + 3; // 8 heads in blocks of 3
                // The tree's group patches depend on the effects found; the engine, run alone, counts them.
                default -> hierarchicalCostInProcess();
            };
            double verification = 2 + 2; // clean and noise runs, then the two verified heads
            assertEquals(own + verification, summary.getForwardPasses(), 1e-9, m.name());
        }
        expect(
                Status.Code.INVALID_ARGUMENT,
                "baseline",
                request("tiny-gpt2", Method.SUBSAMPLING, heads)
                        .setBaseline(options.toBuilder().setInclusionProbability(1.5)));
    }

    /** Hierarchical's cost on the IOI pair, branching 2, over the heads of tiny-gpt2, in-process. */
    private static double hierarchicalCostInProcess() {
        dev.patchbay.nodes.PromptPair pair = new dev.patchbay.nodes.PromptPair(
                gpt2.tokenizer().encode(CLEAN).ids(),
                gpt2.tokenizer().encode(NOISE).ids(),
                dev.patchbay.nodes.Metric.logitDiff(
                        gpt2.tokenizer().encodeFragment(" Mary").ids(),
                        gpt2.tokenizer().encodeFragment(" John").ids()));
        double cost = new dev.patchbay.attribution.baselines.Hierarchical(2, 0, 32)
                .run(gpt2.transformer(), List.of(pair), dev.patchbay.nodes.NodeSet.heads())
                .cost()
                .forwardPasses();
        assertTrue(cost > 2, "the tree patched some groups");
        return cost;
    }

    /**
     * Numbers that would make a loop run for ever or mean "no limit" are refused at the edge: a Subsampling
     * inclusion probability of 1e-12 used to spin drawing empty subsets, beyond the reach of cancellation.
     */
    @Test
    void probabilitiesThatWouldLoopForEverAndNonFiniteNumbersAreRefused() {
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        var tiny = dev.patchbay.proto.v1.BaselineOptions.newBuilder().setInclusionProbability(1e-12);
        expect(
                Status.Code.INVALID_ARGUMENT,
                "baseline.inclusion_probability: inclusion probability 1.0E-12 is too small",
                request("tiny-gpt2", Method.SUBSAMPLING, heads).setBaseline(tiny));
        expect(
                Status.Code.INVALID_ARGUMENT,
                "baseline.inclusion_probability: must be a finite number",
                request("tiny-gpt2", Method.SUBSAMPLING, heads).setBaseline(tiny.setInclusionProbability(Double.NaN)));
        var diagnostic = dev.patchbay.proto.v1.DiagnosticOptions.newBuilder().setEnabled(true);
        expect(
                Status.Code.INVALID_ARGUMENT,
                "diagnostic.inclusion_probability: inclusion probability 1.0E-12",
                request("tiny-gpt2", Method.ATP, heads)
                        .setVerifyTopK(2)
                        .setDiagnostic(diagnostic.clone().setInclusionProbability(1e-12)));
        for (String field : List.of("threshold", "alpha", "inclusion_probability")) {
            var d = diagnostic.clone();
            switch (field) {
                case "threshold" -> d.setThreshold(Double.NaN);
                case "alpha" -> d.setAlpha(Double.POSITIVE_INFINITY);
                default -> d.setInclusionProbability(Double.NaN);
            }
            expect(
                    Status.Code.INVALID_ARGUMENT,
                    "diagnostic." + field + ": must be a finite number",
                    request("tiny-gpt2", Method.ATP, heads).setVerifyTopK(2).setDiagnostic(d));
        }
        assertFalse(
                collect(request("tiny-gpt2", Method.SUBSAMPLING, heads).build()).isEmpty(), "still serving");
    }

    @Test
    void aPromptLongerThanTheModelsPositionsIsRefusedForRotaryModelsToo() {
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        Prompt seventy = Prompt.newBuilder()
                .setIds(TokenIds.newBuilder()
                        .addAllIds(java.util.Collections.nCopies(70, 5))
                        .build())
                .build();
        expect(
                Status.Code.INVALID_ARGUMENT,
                "pairs[0].clean: 70 tokens exceed the model's 64 positions",
                AttributeRequest.newBuilder()
                        .setModel("tiny-llama")
                        .setNodes(heads)
                        .addPairs(
                                pair(CLEAN, NOISE).toBuilder().setClean(seventy).setNoise(seventy)));
    }

    @Test
    void aPromptOverTheCharacterLimitIsRefusedNamingIt() {
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        String longText = "Mary ".repeat(1000); // 5000 characters; this server allows 4096
        expect(
                Status.Code.RESOURCE_EXHAUSTED,
                "pairs[0].clean.text: 5000 characters exceed the server's limit of 4096",
                AttributeRequest.newBuilder()
                        .setModel("tiny-gpt2")
                        .setNodes(heads)
                        .addPairs(pair(longText, longText)));
    }

    @Test
    void verificationStopsAtItsBudget() {
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        // 2 runs for the clean and noise prompts, then one per verified head: a budget of 5 verifies 3 of 8.
        // A prompt no other test uses, so that AtP's own clean pass is not a cache hit.
        List<AttributeEvent> events = collect(AttributeRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair(
                        "When Mary and John went to the park, John gave a drink to",
                        "When Mary and John went to the park, Mary gave a drink to"))
                .setMethod(Method.ATP)
                .setNodes(heads)
                .setVerifyTopK(8)
                .setVerifyBudget(5)
                .build());
        assertEquals(0, events.get(events.size() - 1).getSummary().getCacheHits());
        assertEquals(3, events.stream().filter(AttributeEvent::hasVerified).count());
        assertEquals(4 + 5, events.get(events.size() - 1).getSummary().getForwardPasses(), 1e-9);
    }

    @Test
    void concurrentRequestsAreBatchedTogether() throws Exception {
        var device = server.device("tiny-gpt2");
        long sharedBefore = device.sharedBatches();
        ExecutorService clients = Executors.newFixedThreadPool(6);
        try {
            List<Future<List<AttributeEvent>>> futures = new ArrayList<>();
            // The device is held until all six requests' passes are queued: they share batches on hardware of any
            // speed (each request is one AtP pass).
            try (var held = device.hold()) {
                for (int c = 0; c < 6; c++) {
                    String noise = c % 2 == 0 ? NOISE : "When John and Mary went to the store, John gave a drink to";
                    AttributeRequest r = AttributeRequest.newBuilder()
                            .setModel("tiny-gpt2")
                            .addPairs(pair(CLEAN, noise))
                            .setMethod(Method.ATP)
                            .setNodes(perPosition(NodeKind.HEAD_OUTPUT, NodeKind.NEURON))
                            .build();
                    futures.add(clients.submit(() -> collect(r)));
                }
                assertTrue(device.awaitQueued(6, Duration.ofMinutes(1)), "the requests' passes never queued");
            }
            int shared = 0;
            for (Future<List<AttributeEvent>> f : futures) {
                List<AttributeEvent> events = f.get(60, TimeUnit.SECONDS);
                shared += events.get(events.size() - 1).getSummary().getSharedBatches();
            }
            assertTrue(shared > 0, "some requests' passes must share a batch");
            assertTrue(device.sharedBatches() > sharedBefore);
        } finally {
            clients.shutdownNow();
        }
    }

    /**
     * Distributions come back as per-node sums of |estimate| taken on the device; sent at once (the device may merge
     * them into one batch; SummedGradientsTest forces it), each request gets the same effects as alone.
     */
    @Test
    void concurrentDistributionsEachGetTheirOwnSums() throws Exception {
        String[] cleans = {
            CLEAN,
            "When John and Mary went to the store, Mary gave a drink to",
            "When Mary and John went to the park, John gave a drink to",
            "When John and Mary went to the park, Mary gave a drink to"
        };
        List<AttributeRequest> requests = new ArrayList<>();
        for (int c = 0; c < cleans.length; c++) {
            requests.add(AttributeRequest.newBuilder()
                    .setModel("tiny-gpt2")
                    .addPairs(pair(cleans[c], swapNames(cleans[c])))
                    .addPairs(pair(swapNames(cleans[c]), cleans[c]))
                    .setMethod(c % 2 == 0 ? Method.ATP : Method.ATP_STAR)
                    .setNodes(perPosition(NodeKind.HEAD_OUTPUT, NodeKind.NEURON))
                    .build());
        }
        ExecutorService clients = Executors.newFixedThreadPool(requests.size());
        try {
            List<Future<List<AttributeEvent>>> together = new ArrayList<>();
            for (AttributeRequest r : requests) {
                together.add(clients.submit(() -> collect(r)));
            }
            for (int c = 0; c < requests.size(); c++) {
                List<Float> shared = effects(together.get(c).get(60, TimeUnit.SECONDS));
                List<Float> alone = effects(collect(requests.get(c)));
                assertEquals(alone.size(), shared.size());
                for (int i = 0; i < alone.size(); i++) {
                    assertEquals(alone.get(i), shared.get(i), 1e-4 * (1 + Math.abs(alone.get(i))), "request " + c);
                }
            }
        } finally {
            clients.shutdownNow();
        }
    }

    private static String swapNames(String text) {
        return text.replace("Mary", "#").replace("John", "Mary").replace("#", "John");
    }

    private static List<Float> effects(List<AttributeEvent> events) {
        return events.stream()
                .filter(AttributeEvent::hasBlock)
                .flatMap(e -> e.getBlock().getValuesList().stream())
                .toList();
    }

    @Test
    void aRepeatedCleanPromptIsServedFromTheCache() {
        AttributeRequest r = request(
                        "tiny-gpt2",
                        Method.ACTIVATION_PATCHING,
                        NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build())
                .build();
        collect(r);
        var summary = collect(r).stream()
                .filter(AttributeEvent::hasSummary)
                .findFirst()
                .orElseThrow()
                .getSummary();
        assertEquals(1, summary.getCacheHits());
        assertEquals(0, summary.getCacheMisses());
        assertTrue(server.device("tiny-gpt2").cache().stats().hitCount() > 0);
    }

    @Test
    void aRepeatedAtPRequestGetsItsCleanPassFromTheCacheWithIdenticalResults() {
        AttributeRequest r = AttributeRequest.newBuilder()
                .setModel("tiny-llama")
                .addPairs(pair(CLEAN, "When John and Mary went to the store, John gave a drink to"))
                .setMethod(Method.ATP_QK)
                .setNodes(perPosition(NodeKind.QUERY, NodeKind.KEY, NodeKind.NEURON))
                .build();
        List<AttributeEvent> first = collect(r);
        List<AttributeEvent> second = collect(r);
        var summary = second.get(second.size() - 1).getSummary();
        assertEquals(1, summary.getCacheHits(), "the clean forward and backward come from the cache");
        assertEquals(1, first.get(first.size() - 1).getSummary().getCacheMisses());
        assertTrue(summary.getForwardPasses()
                < first.get(first.size() - 1).getSummary().getForwardPasses());
        List<EffectBlock> a = first.stream()
                .filter(AttributeEvent::hasBlock)
                .map(AttributeEvent::getBlock)
                .toList();
        List<EffectBlock> b = second.stream()
                .filter(AttributeEvent::hasBlock)
                .map(AttributeEvent::getBlock)
                .toList();
        assertEquals(a, b, "cached and computed clean passes give the same estimates");
        assertEquals(first.get(first.size() - 1).getSummary().getCleanMetric(), summary.getCleanMetric());
    }

    @Test
    void cancellingARequestDropsItsPendingPasses() throws Exception {
        // Activation patching of every neuron at every position: hundreds of batches.
        AttributeRequest big = request("tiny-llama", Method.ACTIVATION_PATCHING, perPosition(NodeKind.NEURON))
                .build();
        var device = server.device("tiny-llama");
        long before = device.passes();
        CountDownLatch started = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicLong nodes = new java.util.concurrent.atomic.AtomicLong();
        var call = PatchbayGrpc.newStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
        context.run(() -> call.attribute(big, new StreamObserver<>() {
            @Override
            public void onNext(AttributeEvent e) {
                if (e.hasAccepted()) {
                    nodes.set(e.getAccepted().getNodeCount());
                }
                if (e.hasProgress()) {
                    started.countDown();
                }
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {}
        }));
        assertTrue(started.await(30, TimeUnit.SECONDS));
        context.cancel(null);
        awaitNoOpenJobs(device);
        // Uncancelled, the request runs at least one pass per 32 nodes (one patched run each, 32 rows a batch);
        // cancelled after its first progress event, it ends long before.
        long needed = nodes.get() / 32;
        long ran = device.passes() - before;
        assertTrue(
                needed > 40 && ran < needed / 4,
                "the device ran " + ran + " of the cancelled request's " + needed + " passes");
        // And the server serves the next request.
        assertFalse(collect(request(
                                "tiny-llama",
                                Method.ATP,
                                NodeSet.newBuilder()
                                        .addKinds(NodeKind.HEAD_OUTPUT)
                                        .build())
                        .build())
                .isEmpty());
    }

    @Test
    void aPassedDeadlineEndsTheRequestAndItsPasses() throws Exception {
        AttributeRequest big = request("tiny-llama", Method.ACTIVATION_PATCHING, perPosition(NodeKind.NEURON))
                .build();
        var device = server.device("tiny-llama");
        long before = device.passes();
        long start = System.nanoTime();
        List<AttributeEvent> events = new ArrayList<>();
        // Held, the device runs none of the request's passes: it outlives its deadline on hardware of any speed.
        try (var held = device.hold()) {
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class,
                    () -> PatchbayGrpc.newBlockingStub(channel)
                            .withDeadlineAfter(1, TimeUnit.SECONDS)
                            .attribute(big)
                            .forEachRemaining(events::add));
            assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
            awaitNoOpenJobs(device);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        assertTrue(events.get(0).hasAccepted(), "the request was accepted before its deadline");
        assertEquals(0, device.passes() - before, "the device ran passes of an expired request");
        assertTrue(seconds < 1 + 10, "the request outlived its deadline by " + (seconds - 1) + " s");
    }

    /** Waits until every request on the device has ended and left its queue (its passes can no longer run). */
    static void awaitNoOpenJobs(dev.patchbay.execution.Device device) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (device.openJobs() > 0) {
            assertTrue(System.nanoTime() < deadline, device.openJobs() + " requests never ended");
            Thread.sleep(5);
        }
    }

    @Test
    void badInputsGetTheirStatusAndTheServerKeepsServing() {
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        expect(Status.Code.NOT_FOUND, "model", request("gpt-9", Method.ATP, heads));
        expect(
                Status.Code.INVALID_ARGUMENT,
                "pairs[0]: clean and noise",
                AttributeRequest.newBuilder()
                        .setModel("tiny-gpt2")
                        .setNodes(heads)
                        .addPairs(pair(CLEAN, "Hello there")));
        expect(
                Status.Code.INVALID_ARGUMENT,
                "pairs[0].clean.ids[1]",
                AttributeRequest.newBuilder()
                        .setModel("tiny-gpt2")
                        .setNodes(heads)
                        .addPairs(pair(CLEAN, NOISE).toBuilder()
                                .setClean(Prompt.newBuilder()
                                        .setIds(TokenIds.newBuilder().addIds(1).addIds(99999)))
                                .setNoise(Prompt.newBuilder()
                                        .setIds(TokenIds.newBuilder().addIds(1).addIds(2)))));
        expect(
                Status.Code.INVALID_ARGUMENT,
                "nodes.layers",
                request("tiny-gpt2", Method.ATP, heads.toBuilder().addLayers(7).build()));
        expect(
                Status.Code.INVALID_ARGUMENT,
                "nodes.kinds",
                request("tiny-gpt2", Method.ATP, NodeSet.getDefaultInstance()));
        expect(
                Status.Code.INVALID_ARGUMENT,
                "pairs[0].answers",
                AttributeRequest.newBuilder()
                        .setModel("tiny-gpt2")
                        .setNodes(heads)
                        .addPairs(pair(CLEAN, NOISE).toBuilder().clearAnswers()));
        expect(
                Status.Code.INVALID_ARGUMENT,
                "pairs[0].answers[0]",
                AttributeRequest.newBuilder()
                        .setModel("tiny-gpt2")
                        .setNodes(heads)
                        .addPairs(pair(CLEAN, NOISE).toBuilder()
                                .setAnswers(0, Token.newBuilder().setText(" Maryland"))));
        expect(
                Status.Code.RESOURCE_EXHAUSTED,
                "nodes",
                request("tiny-llama", Method.ACTIVATION_PATCHING, perPosition(NodeKind.NEURON))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(CLEAN, NOISE)));
        assertFalse(collect(request("tiny-gpt2", Method.ATP, heads).build()).isEmpty(), "the server keeps serving");
    }

    @Test
    void metricsCountCallsByStatusAndEachModelsBatchesCacheAndBudget() {
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        collect(request("tiny-gpt2", Method.ATP, heads).build());
        assertThrows(
                StatusRuntimeException.class,
                () -> collect(request("no-such-model", Method.ATP, heads).build()));
        var metrics = PatchbayGrpc.newBlockingStub(channel)
                .getMetrics(dev.patchbay.proto.v1.MetricsRequest.getDefaultInstance());
        assertTrue(metrics.getCallsByStatusOrDefault("OK", 0) >= 1, metrics.toString());
        assertTrue(metrics.getCallsByStatusOrDefault("NOT_FOUND", 0) >= 1, metrics.toString());
        var gpt2 = metrics.getModelsList().stream()
                .filter(m -> m.getModel().equals("tiny-gpt2"))
                .findFirst()
                .orElseThrow();
        assertTrue(gpt2.getBatches() >= 1 && gpt2.getPasses() >= gpt2.getBatches(), gpt2.toString());
        assertTrue(gpt2.getCacheHits() + gpt2.getCacheMisses() >= 1, gpt2.toString());
        assertTrue(gpt2.getMemoryBudgetBytes() > 0, gpt2.toString());
        assertTrue(metrics.getUptimeSeconds() > 0, metrics.toString());
        assertEquals(3, metrics.getModelsCount());
    }

    @Test
    void anInternalFailureFailsThatRequestAloneWithInternal() {
        // Close a served model's weights behind the server's back: its passes fail inside the engine.
        broken.transformer().close();
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class,
                () -> collect(request("broken", Method.ATP, heads).build()));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
        assertTrue(
                e.getStatus().getDescription().contains("failed"), e.getStatus().getDescription());
        assertFalse(collect(request("tiny-gpt2", Method.ATP, heads).build()).isEmpty(), "the next request works");
    }

    @Test
    void aPatchOfANodeTheModelLacksIsRefusedBeforeItIsAccepted() {
        Node missing = Node.newBuilder()
                .setKind(NodeKind.HEAD_OUTPUT)
                .setLayer(7)
                .setUnit(0)
                .setPosition(-1)
                .build();
        List<PatchEvent> events = new ArrayList<>();
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class,
                () -> PatchbayGrpc.newBlockingStub(channel)
                        .patch(PatchRequest.newBuilder()
                                .setModel("tiny-gpt2")
                                .addPairs(pair(CLEAN, NOISE))
                                .addGroups(NodeGroup.newBuilder().addNodes(missing))
                                .build())
                        .forEachRemaining(events::add));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(
                e.getStatus().getDescription().startsWith("groups[0].nodes[0]: node L7H0: layer 7"),
                e.getStatus().getDescription());
        assertTrue(events.isEmpty(), "nothing was accepted");
    }

    @Test
    void patchStreamsEachGroupsEffect() {
        Node head = Node.newBuilder()
                .setKind(NodeKind.HEAD_OUTPUT)
                .setLayer(1)
                .setUnit(2)
                .setPosition(-1)
                .build();
        Node neuron = Node.newBuilder()
                .setKind(NodeKind.NEURON)
                .setLayer(0)
                .setUnit(5)
                .setPosition(3)
                .build();
        PatchRequest r = PatchRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair(CLEAN, NOISE))
                .addGroups(NodeGroup.newBuilder().addNodes(head))
                .addGroups(NodeGroup.newBuilder().setName("both").addNodes(head).addNodes(neuron))
                .build();
        List<PatchEvent> events = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).patch(r).forEachRemaining(events::add);
        assertTrue(events.get(0).hasAccepted());
        List<PatchEvent> results = events.stream().filter(PatchEvent::hasResult).toList();
        assertEquals(
                List.of("L1H2", "both"),
                results.stream().map(e -> e.getResult().getGroup()).toList());
        // The single head equals what activation patching reports for it.
        var ap = collect(request(
                        "tiny-gpt2",
                        Method.ACTIVATION_PATCHING,
                        NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build())
                .build());
        EffectBlock layer1 = ap.stream()
                .filter(AttributeEvent::hasBlock)
                .map(AttributeEvent::getBlock)
                .filter(b -> b.getLayer() == 1)
                .findFirst()
                .orElseThrow();
        assertEquals(layer1.getValues(2), results.get(0).getResult().getEffect(), 1e-5);
        assertTrue(events.get(events.size() - 1).hasSummary());
    }

    @Test
    void aSweepTagsEachJobsEventsAndSurvivesABadJob() throws Exception {
        List<SweepRequest> requests = new ArrayList<>();
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        int jobs = 10;
        for (int j = 0; j < jobs; j++) {
            requests.add(SweepRequest.newBuilder()
                    .setJobId("job-" + j)
                    .setJob(request("tiny-gpt2", j % 2 == 0 ? Method.ATP : Method.ATP_STAR, heads))
                    .build());
        }
        requests.add(SweepRequest.newBuilder()
                .setJobId("bad")
                .setJob(request("nope", Method.ATP, heads))
                .build());
        List<SweepEvent> events = sweep(requests);
        for (int j = 0; j < jobs; j++) {
            String id = "job-" + j;
            assertTrue(
                    events.stream()
                            .anyMatch(e ->
                                    e.getJobId().equals(id) && e.getAttribute().hasSummary()),
                    id);
        }
        assertTrue(events.stream()
                .anyMatch(e ->
                        e.getJobId().equals("bad") && e.getError().getCode().equals("NOT_FOUND")));
    }

    /**
     * A sweep's events are told apart by job id alone: an empty id, or an earlier job's, was accepted and its events
     * could not be told from the other job's. Such a job fails alone; the first job of the id runs.
     */
    @Test
    void aSweepRefusesEmptyAndRepeatedJobIds() throws Exception {
        NodeSet heads = NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
        AttributeRequest job = request("tiny-gpt2", Method.ATP, heads).build();
        List<SweepEvent> events = sweep(List.of(
                SweepRequest.newBuilder().setJobId("same").setJob(job).build(),
                SweepRequest.newBuilder().setJobId("same").setJob(job).build(),
                SweepRequest.newBuilder().setJob(job).build()));
        List<SweepEvent> same =
                events.stream().filter(e -> e.getJobId().equals("same")).toList();
        assertEquals(1, same.stream().filter(e -> e.getAttribute().hasSummary()).count(), "the first job ran");
        List<SweepEvent> errors = events.stream().filter(SweepEvent::hasError).toList();
        assertEquals(2, errors.size(), errors.toString());
        assertTrue(errors.stream().allMatch(e -> e.getError().getCode().equals("INVALID_ARGUMENT")));
        assertTrue(
                errors.stream().anyMatch(e -> e.getError().getMessage().contains("earlier job's")), errors.toString());
        assertTrue(
                errors.stream().anyMatch(e -> e.getError().getMessage().startsWith("job_id: empty")),
                errors.toString());
    }

    /**
     * A sweep carries any streaming operation: a patch, an edge attribution and a generation in one stream, each job's
     * events (less the request id, which is the server's own per job) the same as its own call streams, and a job
     * that names no operation fails alone.
     */
    @Test
    void aSweepCarriesAnyOperationAndEachJobStreamsWhatItsOwnCallWould() throws Exception {
        Node head = Node.newBuilder()
                .setKind(NodeKind.HEAD_OUTPUT)
                .setLayer(1)
                .setUnit(2)
                .setPosition(-1)
                .build();
        PatchRequest patch = PatchRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair(CLEAN, NOISE))
                .addGroups(NodeGroup.newBuilder().addNodes(head))
                .build();
        AttributeEdgesRequest edges = AttributeEdgesRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair(CLEAN, NOISE))
                .setMethod(EdgeMethod.EAP)
                .build();
        GenerateRequest generate = GenerateRequest.newBuilder()
                .setModel("tiny-llama")
                .addPrompts(Prompt.newBuilder().setText(CLEAN))
                .setMaxNewTokens(4)
                .build();
        List<SweepEvent> events = sweep(List.of(
                SweepRequest.newBuilder().setJobId("patch").setPatch(patch).build(),
                SweepRequest.newBuilder()
                        .setJobId("edges")
                        .setAttributeEdges(edges)
                        .build(),
                SweepRequest.newBuilder()
                        .setJobId("generate")
                        .setGenerate(generate)
                        .build(),
                SweepRequest.newBuilder().setJobId("empty").build()));

        var stub = PatchbayGrpc.newBlockingStub(channel);
        List<PatchEvent> patchAlone = new ArrayList<>();
        stub.patch(patch).forEachRemaining(patchAlone::add);
        assertEquals(
                withoutTimes(patchAlone.stream().map(e -> (Message) e).toList()),
                withoutTimes(jobEvents(events, "patch", SweepEvent::getPatch)));
        List<AttributeEdgesEvent> edgesAlone = new ArrayList<>();
        stub.attributeEdges(edges).forEachRemaining(edgesAlone::add);
        assertEquals(
                withoutTimes(edgesAlone.stream().map(e -> (Message) e).toList()),
                withoutTimes(jobEvents(events, "edges", SweepEvent::getAttributeEdges)));
        List<GenerateEvent> generateAlone = new ArrayList<>();
        stub.generate(generate).forEachRemaining(generateAlone::add);
        assertEquals(
                withoutTimes(generateAlone.stream().map(e -> (Message) e).toList()),
                withoutTimes(jobEvents(events, "generate", SweepEvent::getGenerate)));
        SweepEvent empty = events.stream()
                .filter(e -> e.getJobId().equals("empty"))
                .findFirst()
                .orElseThrow();
        assertEquals("INVALID_ARGUMENT", empty.getError().getCode());
        assertTrue(
                empty.getError().getMessage().startsWith("request: "),
                empty.getError().getMessage());
    }

    /** Sends the jobs over one Sweep call, half-closes it and gives every event once the server has ended it. */
    private static List<SweepEvent> sweep(List<SweepRequest> jobs) throws InterruptedException {
        List<SweepEvent> events = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        StreamObserver<SweepRequest> requests = PatchbayGrpc.newStub(channel).sweep(new StreamObserver<>() {
            @Override
            public void onNext(SweepEvent e) {
                events.add(e);
            }

            @Override
            public void onError(Throwable t) {
                done.countDown();
            }

            @Override
            public void onCompleted() {
                done.countDown();
            }
        });
        jobs.forEach(requests::onNext);
        requests.onCompleted();
        assertTrue(done.await(60, TimeUnit.SECONDS));
        return events;
    }

    private static List<Message> jobEvents(
            List<SweepEvent> events, String jobId, java.util.function.Function<SweepEvent, Message> field) {
        List<Message> out = new ArrayList<>();
        for (SweepEvent e : events) {
            if (e.getJobId().equals(jobId)) {
                assertFalse(e.hasError(), () -> jobId + ": " + e.getError());
                out.add(field.apply(e));
            }
        }
        assertFalse(out.isEmpty(), jobId);
        return out;
    }

    /**
     * The events with what differs from one run to the next cleared: the request id, wall time, the batches shared
     * with other requests (the sweep's jobs run beside each other) and the clean cache's use (a later call finds the
     * sweep's clean runs in it, so its compute is lower).
     */
    private static List<String> withoutTimes(List<Message> events) {
        return events.stream()
                .map(e -> e.toString()
                        .replaceAll("request_id: \"[^\"]*\"", "")
                        .replaceAll("wall_seconds: [-0-9.eE]+", "")
                        .replaceAll("shared_batches: [0-9]+", "")
                        .replaceAll("cache_hits: [0-9]+", "")
                        .replaceAll("cache_misses: [0-9]+", "")
                        .replaceAll("compute_forward_equivalents: [-0-9.eE]+", ""))
                .toList();
    }

    private static void expect(Status.Code code, String field, AttributeRequest.Builder request) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> collect(request.build()));
        assertEquals(code, e.getStatus().getCode(), String.valueOf(e.getStatus().getDescription()));
        assertTrue(
                String.valueOf(e.getStatus().getDescription()).contains(field),
                e.getStatus().getDescription());
    }
}
