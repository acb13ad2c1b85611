package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.attribution.CausalScrubbing;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Metric;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.Ablation;
import dev.patchbay.proto.v1.AttributeEdgesEvent;
import dev.patchbay.proto.v1.AttributeEdgesRequest;
import dev.patchbay.proto.v1.CircuitEvent;
import dev.patchbay.proto.v1.CircuitPoint;
import dev.patchbay.proto.v1.DiagnosticOptions;
import dev.patchbay.proto.v1.DiscoverCircuitRequest;
import dev.patchbay.proto.v1.DiscoveryEvent;
import dev.patchbay.proto.v1.DiscoverySearch;
import dev.patchbay.proto.v1.EdgeBlock;
import dev.patchbay.proto.v1.EdgeCircuit;
import dev.patchbay.proto.v1.EdgeMethod;
import dev.patchbay.proto.v1.EvaluateCircuitRequest;
import dev.patchbay.proto.v1.FoundCircuit;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.PromptPair;
import dev.patchbay.proto.v1.ScrubClaim;
import dev.patchbay.proto.v1.ScrubEvent;
import dev.patchbay.proto.v1.ScrubRequest;
import dev.patchbay.proto.v1.ScrubResult;
import dev.patchbay.proto.v1.ScrubSample;
import dev.patchbay.proto.v1.Token;
import dev.patchbay.proto.v1.TokenIds;
import dev.patchbay.proto.v1.VerifiedEdge;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** AttributeEdges over grpc-java's in-process transport: the same numbers as in-process, and refusals. */
class AttributeEdgesServiceTest {
    private static final int[] CLEAN = {5, 17, 2, 44, 9, 31, 7, 12};
    private static final int[] NOISE = {5, 17, 3, 44, 9, 28, 7, 12};
    private static LoadedModel llama;
    private static final Map<String, LoadedModel> FAMILIES = new java.util.HashMap<>();
    private static PatchbayServer server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        for (String family : TestCheckpoints.ALL) {
            FAMILIES.put(family, TestCheckpoints.load(family, DataType.FLOAT32));
        }
        llama = FAMILIES.get("tiny-llama");
        String name = InProcessServerBuilder.generateName();
        server = PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                FAMILIES,
                new SchedulerConfig(32, 8192, Duration.ofMillis(20), 1L << 30),
                new ServerLimits(1 << 20, 64, 256, 100_000, 32, 4, 4096));
        channel = InProcessChannelBuilder.forName(name).build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        FAMILIES.values().forEach(LoadedModel::close);
    }

    private static PromptPair pair(int[] clean, int[] noise) {
        return PromptPair.newBuilder()
                .setClean(Prompt.newBuilder().setIds(ids(clean)))
                .setNoise(Prompt.newBuilder().setIds(ids(noise)))
                .addAnswers(Token.newBuilder().setId(11))
                .addWrongs(Token.newBuilder().setId(40))
                .build();
    }

    private static TokenIds ids(int[] ids) {
        TokenIds.Builder b = TokenIds.newBuilder();
        for (int id : ids) {
            b.addIds(id);
        }
        return b.build();
    }

    private static List<AttributeEdgesEvent> call(AttributeEdgesRequest request) {
        List<AttributeEdgesEvent> events = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).attributeEdges(request).forEachRemaining(events::add);
        return events;
    }

    private static dev.patchbay.nodes.PromptPair enginePair() {
        return new dev.patchbay.nodes.PromptPair(CLEAN, NOISE, Metric.logitDiff(new int[] {11}, new int[] {40}));
    }

    @Test
    void eapOverTheRpcEqualsInProcessAndItsTopEdgesAreVerifiedInRankOrder() {
        List<AttributeEdgesEvent> events = call(AttributeEdgesRequest.newBuilder()
                .setModel("tiny-llama")
                .addPairs(pair(CLEAN, NOISE))
                .setMethod(EdgeMethod.EAP)
                .setVerifyTopK(5)
                .setDiagnostic(DiagnosticOptions.newBuilder().setEnabled(true).setSamples(16))
                .build());
        EdgeResult local = EdgeAttribution.run(
                PassRunner.direct(llama.transformer()),
                List.of(enginePair()),
                new EdgeAttribution.Settings(EdgeAttribution.Method.EAP, false, 1, 4, 16),
                EdgeAttribution.Listener.NONE);
        assertEquals(AttributeEdgesEvent.EventCase.ACCEPTED, events.get(0).getEventCase());
        assertEquals(local.size(), events.get(0).getAccepted().getNodeCount());
        assertEquals("edges", events.get(0).getAccepted().getCountUnit());
        List<EdgeBlock> blocks = events.stream()
                .filter(AttributeEdgesEvent::hasBlock)
                .map(AttributeEdgesEvent::getBlock)
                .toList();
        assertEquals(local.blocks().size(), blocks.size());
        for (int b = 0; b < blocks.size(); b++) {
            double[] expected = local.blocks().get(b).values();
            assertEquals(expected.length, blocks.get(b).getValuesCount());
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], blocks.get(b).getValues(i), 1e-6 * Math.max(1, Math.abs(expected[i])));
            }
        }
        List<VerifiedEdge> verified = events.stream()
                .filter(AttributeEdgesEvent::hasVerified)
                .map(AttributeEdgesEvent::getVerified)
                .toList();
        List<EdgeResult.Scored> top = local.top(5);
        assertEquals(5, verified.size());
        for (int i = 0; i < 5; i++) {
            assertEquals(i + 1, verified.get(i).getRank());
            assertEquals(top.get(i).edge().name(), verified.get(i).getEdge().getName());
            assertEquals(
                    Edge.parse(verified.get(i).getEdge().getName()).name(),
                    verified.get(i).getEdge().getName());
        }
        assertTrue(events.stream().anyMatch(AttributeEdgesEvent::hasDiagnostic), "the diagnostic is streamed");
        AttributeEdgesEvent last = events.get(events.size() - 1);
        assertTrue(last.hasSummary());
        assertEquals("eap", last.getSummary().getMethod());
    }

    /** Every method on every family through the RPC: one block per reader group, and EAP as in-process. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void everyEdgeMethodRunsOnEveryFamily(String family) {
        int layers = FAMILIES.get(family).transformer().config().nLayers();
        EdgeResult local = EdgeAttribution.run(
                PassRunner.direct(FAMILIES.get(family).transformer()),
                List.of(enginePair()),
                new EdgeAttribution.Settings(EdgeAttribution.Method.EAP, false, 1, 4, 16),
                EdgeAttribution.Listener.NONE);
        for (EdgeMethod method :
                List.of(EdgeMethod.EXACT_EDGE_PATCHING, EdgeMethod.EAP, EdgeMethod.EAP_IG, EdgeMethod.EDGE_ATP_STAR)) {
            List<AttributeEdgesEvent> events = call(AttributeEdgesRequest.newBuilder()
                    .setModel(family)
                    .addPairs(pair(CLEAN, NOISE))
                    .setMethod(method)
                    .setIgSteps(2)
                    .setVerifyTopK(2)
                    .build());
            List<EdgeBlock> blocks = events.stream()
                    .filter(AttributeEdgesEvent::hasBlock)
                    .map(AttributeEdgesEvent::getBlock)
                    .toList();
            assertEquals(4 * layers + 1, blocks.size(), family + " " + method);
            assertEquals(
                    2, events.stream().filter(AttributeEdgesEvent::hasVerified).count(), family + " " + method);
            assertTrue(events.get(events.size() - 1).hasSummary(), family + " " + method);
            // The summary says whether the scores are magnitudes, and the values bear it out: AtP*'s are never
            // negative, one pair's signed scores have both signs.
            boolean magnitudes = events.get(events.size() - 1).getSummary().getMagnitudes();
            assertEquals(method == EdgeMethod.EDGE_ATP_STAR, magnitudes, family + " " + method);
            boolean anyNegative =
                    blocks.stream().flatMap(b -> b.getValuesList().stream()).anyMatch(v -> v < 0);
            assertEquals(!magnitudes, anyNegative, family + " " + method);
            if (method == EdgeMethod.EAP) {
                for (int b = 0; b < blocks.size(); b++) {
                    double[] expected = local.blocks().get(b).values();
                    for (int i = 0; i < expected.length; i++) {
                        assertEquals(
                                expected[i],
                                blocks.get(b).getValues(i),
                                1e-5 * Math.max(1, Math.abs(expected[i])),
                                family);
                    }
                }
            }
        }
    }

    static List<String> families() {
        return TestCheckpoints.ALL;
    }

    @Test
    void atPStarPerPositionStreamsOneBlockPerReaderGroupWithPositions() {
        List<AttributeEdgesEvent> events = call(AttributeEdgesRequest.newBuilder()
                .setModel("tiny-llama")
                .addPairs(pair(CLEAN, NOISE))
                .setMethod(EdgeMethod.EDGE_ATP_STAR)
                .setPerPosition(true)
                .build());
        List<EdgeBlock> blocks = events.stream()
                .filter(AttributeEdgesEvent::hasBlock)
                .map(AttributeEdgesEvent::getBlock)
                .toList();
        int layers = llama.transformer().config().nLayers();
        assertEquals(4 * layers + 1, blocks.size());
        for (EdgeBlock b : blocks) {
            assertEquals(CLEAN.length, b.getPositionsCount());
            assertEquals(List.of(CLEAN.length, b.getReaders(), b.getWriters()), b.getShapeList());
            assertTrue(b.getValuesList().stream().allMatch(v -> v >= 0), "AtP* scores are magnitudes");
        }
    }

    /** EvaluateCircuit: a prune curve from 0 (exactly) to 1 (exactly), given circuits by name, and refusals. */
    @Test
    void circuitsAreEvaluatedAndPruneCurvesStreamed() {
        int[] other = {8, 11, 2, 40, 19, 31, 5, 12};
        List<CircuitEvent> curve = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel)
                .evaluateCircuit(EvaluateCircuitRequest.newBuilder()
                        .setModel("tiny-llama")
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(NOISE, other))
                        .addPairs(pair(other, CLEAN))
                        .setAblation(Ablation.MEAN)
                        .setRanking(EdgeMethod.EAP)
                        .addAllSizes(List.of(0, 10, 40))
                        .build())
                .forEachRemaining(curve::add);
        List<CircuitPoint> points = curve.stream()
                .filter(CircuitEvent::hasPoint)
                .map(CircuitEvent::getPoint)
                .toList();
        assertEquals(
                List.of(0, 10, 40), points.stream().map(CircuitPoint::getSize).toList());
        assertEquals(0.0, points.get(0).getFaithfulness());
        assertEquals(3, points.get(1).getPerPairCount());
        assertTrue(curve.get(curve.size() - 1).hasSummary());

        List<CircuitEvent> given = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel)
                .evaluateCircuit(EvaluateCircuitRequest.newBuilder()
                        .setModel("tiny-llama")
                        .addPairs(pair(CLEAN, NOISE))
                        .setAblation(Ablation.NOISE_PROMPT)
                        .addCircuits(EdgeCircuit.newBuilder()
                                .setName("direct")
                                .addEdges("embed->logits")
                                .addEdges("L1.mlp->logits"))
                        .build())
                .forEachRemaining(given::add);
        CircuitPoint direct = given.stream()
                .filter(CircuitEvent::hasPoint)
                .findFirst()
                .orElseThrow()
                .getPoint();
        assertEquals("direct", direct.getName());
        assertEquals(2, direct.getSize());
        assertTrue(Double.isFinite(direct.getFaithfulness()));

        StatusRuntimeException badEdge = assertThrows(
                StatusRuntimeException.class,
                () -> PatchbayGrpc.newBlockingStub(channel)
                        .evaluateCircuit(EvaluateCircuitRequest.newBuilder()
                                .setModel("tiny-llama")
                                .addPairs(pair(CLEAN, NOISE))
                                .setAblation(Ablation.ZERO)
                                .addCircuits(EdgeCircuit.newBuilder()
                                        .addEdges("embed->logits")
                                        .addEdges("L1H0->L0H0.q"))
                                .build())
                        .forEachRemaining(e -> {}));
        assertEquals(Status.Code.INVALID_ARGUMENT, badEdge.getStatus().getCode());
        assertTrue(badEdge.getStatus().getDescription().startsWith("circuits[0].edges[1]: "), badEdge.getMessage());
        StatusRuntimeException gemma = assertThrows(
                StatusRuntimeException.class,
                () -> PatchbayGrpc.newBlockingStub(channel)
                        .evaluateCircuit(EvaluateCircuitRequest.newBuilder()
                                .setModel("tiny-gemma2")
                                .addPairs(pair(CLEAN, NOISE))
                                .setAblation(Ablation.ZERO)
                                .addCircuits(EdgeCircuit.newBuilder().addEdges("embed->logits"))
                                .build())
                        .forEachRemaining(e -> {}));
        assertEquals(Status.Code.INVALID_ARGUMENT, gemma.getStatus().getCode());
        assertTrue(gemma.getStatus().getDescription().contains("normalizes"), gemma.getMessage());
    }

    /** DiscoverCircuit: every check streamed, then the circuit, which evaluates to the faithfulness reported. */
    @Test
    void circuitsAreDiscoveredGreedilyAndByAnAcdcStyleSearch() {
        for (DiscoverySearch search : List.of(DiscoverySearch.GREEDY, DiscoverySearch.ACDC)) {
            List<DiscoveryEvent> events = new ArrayList<>();
            PatchbayGrpc.newBlockingStub(channel)
                    .discoverCircuit(DiscoverCircuitRequest.newBuilder()
                            .setModel("tiny-gpt2")
                            .addPairs(pair(CLEAN, NOISE))
                            .setAblation(Ablation.NOISE_PROMPT)
                            .setSearch(search)
                            .setRanking(EdgeMethod.EAP)
                            .setTarget(0.8)
                            .setThreshold(0.02)
                            .build())
                    .forEachRemaining(events::add);
            assertTrue(events.stream().anyMatch(DiscoveryEvent::hasStep), search.name());
            FoundCircuit found = events.stream()
                    .filter(DiscoveryEvent::hasCircuit)
                    .findFirst()
                    .orElseThrow()
                    .getCircuit();
            assertTrue(found.getEdgesCount() > 0, search.name());
            assertTrue(events.get(events.size() - 1).hasSummary());
            List<CircuitEvent> check = new ArrayList<>();
            PatchbayGrpc.newBlockingStub(channel)
                    .evaluateCircuit(EvaluateCircuitRequest.newBuilder()
                            .setModel("tiny-gpt2")
                            .addPairs(pair(CLEAN, NOISE))
                            .setAblation(Ablation.NOISE_PROMPT)
                            .addCircuits(EdgeCircuit.newBuilder().addAllEdges(found.getEdgesList()))
                            .build())
                    .forEachRemaining(check::add);
            double evaluated = check.stream()
                    .filter(CircuitEvent::hasPoint)
                    .findFirst()
                    .orElseThrow()
                    .getPoint()
                    .getFaithfulness();
            assertEquals(found.getFaithfulness(), evaluated, 1e-5, search.name());
            if (search == DiscoverySearch.GREEDY) {
                assertTrue(Math.abs(1 - evaluated) <= 0.2 + 1e-9, "greedy reaches its target: " + evaluated);
            }
        }
    }

    /**
     * Scrub: every sample streamed, then the result, equal to the engine's in-process scrub of the same hypothesis
     * with the same seed (float32; batches differ, so to 1e-4); refusals name the field.
     */
    @Test
    void hypothesesAreScrubbedAsInProcess() {
        int[] other = {8, 11, 2, 40, 19, 31, 5, 12};
        List<int[]> inputs = List.of(CLEAN, NOISE, other, CLEAN);
        List<String> labels = List.of("a", "b", "a", "a");
        ScrubRequest.Builder request = ScrubRequest.newBuilder()
                .setModel("tiny-llama")
                .setSamples(12)
                .setSeed(9)
                .addClaims(ScrubClaim.newBuilder().setPart("L1H0").addAllLabels(labels))
                .addClaims(ScrubClaim.newBuilder().setPart("embed").addAllLabels(List.of("0", "1", "2", "0")))
                .addClaims(ScrubClaim.newBuilder().setPart("L0.mlp->L1H0.v").addAllLabels(labels));
        for (int[] input : inputs) {
            // No noise prompt: scrubbing reads only the clean ones.
            request.addPairs(pair(input, input).toBuilder().clearNoise());
        }
        List<ScrubEvent> events = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).scrub(request.build()).forEachRemaining(events::add);
        assertEquals(12, events.get(0).getAccepted().getNodeCount());
        List<ScrubSample> samples = events.stream()
                .filter(ScrubEvent::hasSample)
                .map(ScrubEvent::getSample)
                .toList();
        ScrubResult result = events.stream()
                .filter(ScrubEvent::hasResult)
                .findFirst()
                .orElseThrow()
                .getResult();
        assertTrue(events.get(events.size() - 1).hasSummary());
        assertTrue(result.getEdgesList().contains("L0.mlp->L1H0.v")
                && result.getEdgesList().contains("embed->logits"));

        List<dev.patchbay.nodes.PromptPair> pairs = new ArrayList<>();
        for (int[] input : inputs) {
            pairs.add(
                    new dev.patchbay.nodes.PromptPair(input, input, Metric.logitDiff(new int[] {11}, new int[] {40})));
        }
        List<CausalScrubbing.Claim> claims = List.of(
                new CausalScrubbing.Claim("L1H0", labels),
                new CausalScrubbing.Claim("embed", List.of("0", "1", "2", "0")),
                new CausalScrubbing.Claim("L0.mlp->L1H0.v", labels));
        CausalScrubbing.Result local;
        try (CausalScrubbing scrubbing = new CausalScrubbing(
                PassRunner.direct(llama.transformer()),
                pairs,
                CausalScrubbing.Hypothesis.of(llama.config(), pairs, claims),
                5)) {
            local = scrubbing.run(12, 9, s -> {});
        }
        assertEquals(12, samples.size());
        for (int i = 0; i < 12; i++) {
            assertEquals(local.samples().get(i).scrubbed(), samples.get(i).getScrubbed(), 1e-4, "sample " + i);
            assertEquals(local.samples().get(i).resampled(), samples.get(i).getResampled(), 1e-4, "sample " + i);
        }
        assertEquals(local.recovered(), result.getRecovered(), 1e-3);
        assertEquals((local.runs() - 4) / 12, result.getRunsPerSample(), "the pairs' own runs, then each sample's");

        Map<String, ScrubRequest> bad = Map.of(
                "claims[0].part: not an edge or a writer name: 'L1X0'",
                request.clone()
                        .setClaims(0, ScrubClaim.newBuilder().setPart("L1X0").addAllLabels(labels))
                        .build(),
                "claims[2].labels: 1 labels for 4 pairs",
                request.clone()
                        .setClaims(2, ScrubClaim.newBuilder().setPart("L1H1").addLabels("a"))
                        .build(),
                "samples: at least 2",
                request.clone().setSamples(1).build(),
                "claims[0].part: edge L1H0->L1H0.q",
                request.clone()
                        .setClaims(
                                0,
                                ScrubClaim.newBuilder().setPart("L1H0->L1H0.q").addAllLabels(labels))
                        .build());
        bad.forEach((message, req) -> {
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class,
                    () -> PatchbayGrpc.newBlockingStub(channel).scrub(req).forEachRemaining(x -> {}));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), message);
            assertTrue(
                    e.getStatus().getDescription().startsWith(message),
                    e.getStatus().getDescription());
        });
    }

    @Test
    void badEdgeRequestsAreRefusedNamingTheField() {
        StatusRuntimeException steps = assertThrows(
                StatusRuntimeException.class,
                () -> call(AttributeEdgesRequest.newBuilder()
                        .setModel("tiny-llama")
                        .addPairs(pair(CLEAN, NOISE))
                        .setMethod(EdgeMethod.EAP_IG)
                        .setIgSteps(-1)
                        .build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, steps.getStatus().getCode());
        assertTrue(steps.getStatus().getDescription().contains("ig_steps"), steps.getMessage());
        int[] shorter = {5, 17, 2, 44};
        StatusRuntimeException lengths = assertThrows(
                StatusRuntimeException.class,
                () -> call(AttributeEdgesRequest.newBuilder()
                        .setModel("tiny-llama")
                        .addPairs(pair(CLEAN, NOISE))
                        .addPairs(pair(shorter, shorter))
                        .setPerPosition(true)
                        .build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, lengths.getStatus().getCode());
        assertTrue(lengths.getStatus().getDescription().contains("per-position edges"), lengths.getMessage());
        StatusRuntimeException diagnostic = assertThrows(
                StatusRuntimeException.class,
                () -> call(AttributeEdgesRequest.newBuilder()
                        .setModel("tiny-llama")
                        .addPairs(pair(CLEAN, NOISE))
                        .setDiagnostic(DiagnosticOptions.newBuilder().setEnabled(true))
                        .build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, diagnostic.getStatus().getCode());
        assertTrue(diagnostic.getStatus().getDescription().contains("edges left unverified"), diagnostic.getMessage());
    }
}
