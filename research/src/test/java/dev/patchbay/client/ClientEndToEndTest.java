package dev.patchbay.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.proto.v1.Ablation;
import dev.patchbay.proto.v1.AttributeEdgesRequest;
import dev.patchbay.proto.v1.CircuitEvent;
import dev.patchbay.proto.v1.CircuitPoint;
import dev.patchbay.proto.v1.DiscoverCircuitRequest;
import dev.patchbay.proto.v1.DiscoveryEvent;
import dev.patchbay.proto.v1.EdgeMethod;
import dev.patchbay.proto.v1.EvaluateCircuitRequest;
import dev.patchbay.proto.v1.FoundCircuit;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.server.PatchbayServer;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Java client against a real server on loopback. */
class ClientEndToEndTest {
    static final String CLEAN = "When Mary and John went to the store, John gave a drink to";
    static final String NOISE = "When Mary and John went to the store, Mary gave a drink to";
    private static LoadedModel model;
    private static PatchbayServer server;
    private static PatchbayClient client;

    @BeforeAll
    static void start() throws Exception {
        model = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        server = PatchbayServer.start(0, Map.of("tiny-gpt2", model));
        client = PatchbayClient.connect("127.0.0.1:" + server.port());
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        server.close();
        model.close();
    }

    private static AttributionRequest heads() {
        return AttributionRequest.forModel("tiny-gpt2")
                .pair(CLEAN, NOISE, " Mary", " John")
                .nodes(Nodes.heads());
    }

    @Test
    void streamsTypedEventsAndCollectsRowsSortedByEffect() {
        List<AttributionEvent> events;
        try (Stream<AttributionEvent> s = client.attribute(heads().verifyTopK(3).build())) {
            events = s.toList();
        }
        assertTrue(events.get(0) instanceof AttributionEvent.Accepted);
        assertTrue(events.get(events.size() - 1) instanceof AttributionEvent.Summary);
        int firstVerified = events.indexOf(events.stream()
                .filter(e -> e instanceof AttributionEvent.Verified)
                .findFirst()
                .orElseThrow());
        assertEquals(
                2,
                events.subList(0, firstVerified).stream()
                        .filter(e -> e instanceof AttributionEvent.Effects)
                        .count());

        AttributionResults results = AttributionResults.collect(
                client.attribute(heads().verifyTopK(3).build()));
        assertEquals(8, results.rows().size(), "2 layers x 4 heads");
        List<AttributionResults.Row> top = results.top(3);
        assertTrue(Math.abs(top.get(0).estimate()) >= Math.abs(top.get(1).estimate()));
        assertTrue(top.get(0).name().matches("L\\dH\\d"), top.get(0).name());
        assertTrue(top.stream().noneMatch(r -> Double.isNaN(r.verifiedEffect())), "the top 3 were verified");
        assertTrue(Double.isNaN(results.rows().get(7).verifiedEffect()));
        assertEquals("atp-star", results.summary().method());
    }

    @Test
    void edgeRowsCarryTheirNamesEstimatesAndVerifiedEffects() {
        var pair = heads().build().getPairs(0);
        EdgeResults results = EdgeResults.collect(client.attributeEdges(AttributeEdgesRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair)
                .setMethod(EdgeMethod.EAP)
                .setVerifyTopK(3)
                .build()));
        // tiny-gpt2: 2 layers of 4 heads; every reader group's edges, as the engine counts them.
        assertEquals(
                new dev.patchbay.nodes.EdgeGraph(model.transformer().config()).edges(),
                results.rows().count());
        List<EdgeResults.Row> top = results.top(3);
        assertTrue(Math.abs(top.get(0).estimate()) >= Math.abs(top.get(2).estimate()));
        for (EdgeResults.Row r : top) {
            assertEquals(r.name(), Nodes.edgeName(Nodes.parseEdge(r.name())));
            assertFalse(Double.isNaN(r.verifiedEffect()), r.name() + " was verified");
        }
        assertEquals("eap", results.summary().getSummary().getMethod());
    }

    @Test
    void circuitsAreEvaluatedAndDiscoveredAsStreams() {
        var pair = heads().build().getPairs(0);
        List<CircuitEvent> curve;
        try (Stream<CircuitEvent> s = client.evaluateCircuit(EvaluateCircuitRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair)
                .setAblation(Ablation.NOISE_PROMPT)
                .setRanking(EdgeMethod.EAP)
                .build())) {
            curve = s.toList();
        }
        List<CircuitPoint> points = curve.stream()
                .filter(CircuitEvent::hasPoint)
                .map(CircuitEvent::getPoint)
                .toList();
        assertEquals(0.0, points.get(0).getFaithfulness());
        assertEquals(1.0, points.get(points.size() - 1).getFaithfulness());
        FoundCircuit found;
        try (Stream<DiscoveryEvent> s = client.discoverCircuit(DiscoverCircuitRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair)
                .setAblation(Ablation.NOISE_PROMPT)
                .setRanking(EdgeMethod.EAP)
                .setTarget(0.8)
                .build())) {
            found = s.filter(DiscoveryEvent::hasCircuit)
                    .findFirst()
                    .orElseThrow()
                    .getCircuit();
        }
        assertTrue(Math.abs(1 - found.getFaithfulness()) <= 0.2 + 1e-9, "" + found.getFaithfulness());
        found.getEdgesList().forEach(name -> assertEquals(name, Nodes.edgeName(Nodes.parseEdge(name))));
        // A hypothesis that claims the found circuit's edges with the input itself as the label (noise prompts
        // left out: scrubbing reads the clean ones).
        var scrub = dev.patchbay.proto.v1.ScrubRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPairs(pair.toBuilder().clearNoise())
                .addPairs(pair.toBuilder().clearNoise())
                .setSamples(4);
        found.getEdgesList()
                .forEach(edge -> scrub.addClaims(dev.patchbay.proto.v1.ScrubClaim.newBuilder()
                        .setPart(edge)
                        .addAllLabels(List.of("0", "1"))));
        List<dev.patchbay.proto.v1.ScrubEvent> scrubbed;
        try (Stream<dev.patchbay.proto.v1.ScrubEvent> s = client.scrub(scrub.build())) {
            scrubbed = s.toList();
        }
        assertEquals(
                4,
                scrubbed.stream()
                        .filter(dev.patchbay.proto.v1.ScrubEvent::hasSample)
                        .count());
        assertEquals(
                found.getEdgesCount(),
                scrubbed.stream()
                        .filter(dev.patchbay.proto.v1.ScrubEvent::hasResult)
                        .findFirst()
                        .orElseThrow()
                        .getResult()
                        .getEdgesCount());
    }

    @Test
    void generatedTokensArriveAsAStream() {
        var request = dev.patchbay.proto.v1.GenerateRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPrompts(dev.patchbay.proto.v1.Prompt.newBuilder().setText("When Mary and John went"))
                .setMaxNewTokens(4)
                .addInterventions(dev.patchbay.proto.v1.Intervention.newBuilder()
                        .setSite("blocks.0.attn.hook_z")
                        .setOp(dev.patchbay.proto.v1.InterventionOp.OP_ZERO)
                        .addUnits(2))
                .build();
        List<dev.patchbay.proto.v1.GenerateEvent> events;
        try (Stream<dev.patchbay.proto.v1.GenerateEvent> s = client.generate(request)) {
            events = s.toList();
        }
        assertEquals(
                4,
                events.stream()
                        .filter(dev.patchbay.proto.v1.GenerateEvent::hasToken)
                        .count());
        var continuation = events.stream()
                .filter(dev.patchbay.proto.v1.GenerateEvent::hasContinuation)
                .findFirst()
                .orElseThrow()
                .getContinuation();
        assertEquals(4, continuation.getIdsCount());
        assertFalse(continuation.getText().isEmpty());
    }

    @Test
    void theDiagnosticArrivesAsItsOwnEvent() {
        var request = heads().verifyTopK(2).build().toBuilder()
                .setDiagnostic(dev.patchbay.proto.v1.DiagnosticOptions.newBuilder()
                        .setEnabled(true)
                        .setSamples(30)
                        .setInclusionProbability(0.3))
                .build();
        List<AttributionEvent> events;
        try (Stream<AttributionEvent> s = client.attribute(request)) {
            events = s.toList();
        }
        var diagnostic = (AttributionEvent.Diagnostic) events.stream()
                .filter(e -> e instanceof AttributionEvent.Diagnostic)
                .findFirst()
                .orElseThrow();
        assertEquals(6, diagnostic.nodes());
        assertEquals(32, diagnostic.forwardPasses());
    }

    @Test
    void asyncCallsDeliverEveryEventAndCanBeCancelled() throws Exception {
        List<AttributionEvent> events = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        client.attributeAsync(heads().method(Method.ATP).build(), new PatchbayClient.Listener() {
            @Override
            public void onEvent(AttributionEvent event) {
                events.add(event);
            }

            @Override
            public void onCompleted() {
                done.countDown();
            }
        });
        assertTrue(done.await(30, TimeUnit.SECONDS));
        assertTrue(events.get(events.size() - 1) instanceof AttributionEvent.Summary);

        CountDownLatch failed = new CountDownLatch(1);
        Status.Code[] code = new Status.Code[1];
        PatchbayClient.Call call = client.attributeAsync(
                AttributionRequest.forModel("tiny-gpt2")
                        .pair(CLEAN, NOISE, " Mary", " John")
                        .method(Method.ACTIVATION_PATCHING)
                        .nodes(Nodes.neurons())
                        .build(),
                new PatchbayClient.Listener() {
                    @Override
                    public void onEvent(AttributionEvent event) {}

                    @Override
                    public void onError(PatchbayException error) {
                        code[0] = error.code();
                        failed.countDown();
                    }
                });
        call.cancel();
        assertTrue(failed.await(30, TimeUnit.SECONDS));
        assertEquals(Status.Code.CANCELLED, code[0]);
    }

    @Test
    void closingAStreamEarlyCancelsTheRequest() throws InterruptedException {
        var device = server.device("tiny-gpt2");
        long before = device.passes();
        long nodes;
        try (Stream<AttributionEvent> s = client.attribute(AttributionRequest.forModel("tiny-gpt2")
                .pair(CLEAN, NOISE, " Mary", " John")
                .method(Method.ACTIVATION_PATCHING)
                .nodes(Nodes.neurons())
                .build())) {
            nodes = ((AttributionEvent.Accepted) s.findFirst().orElseThrow()).nodeCount();
        }
        // Wait for the server to end the request (its queue closed, so none of its passes can run any more).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (device.openJobs() > 0) {
            assertTrue(System.nanoTime() < deadline, "the closed request never ended");
            Thread.sleep(5);
        }
        // Uncancelled, it would run at least one pass per 32 patched runs (one per node); it ended long before.
        long needed = nodes / 32;
        long ran = device.passes() - before;
        assertTrue(needed > 40 && ran < needed / 4, "the closed request ran " + ran + " of its " + needed + " passes");
    }

    @Test
    void errorsAndTimeoutsAreExceptionsWithTheServersStatus() {
        PatchbayException unknown = assertThrows(PatchbayException.class, () -> client.tokenize("nope", "hi"));
        assertEquals(Status.Code.NOT_FOUND, unknown.code());
        assertTrue(unknown.getMessage().contains("nope"));
        PatchbayException bad = assertThrows(
                PatchbayException.class,
                () -> AttributionResults.collect(client.attribute(AttributionRequest.forModel("tiny-gpt2")
                        .pair(CLEAN, "Hi", " Mary", " John")
                        .build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, bad.code());
        // Held, the device runs nothing: the request outlives its timeout on hardware of any speed.
        try (var held = server.device("tiny-gpt2").hold()) {
            PatchbayException late = assertThrows(
                    PatchbayException.class,
                    () -> AttributionResults.collect(client.withTimeout(Duration.ofMillis(50))
                            .attribute(AttributionRequest.forModel("tiny-gpt2")
                                    .pair(CLEAN, NOISE, " Mary", " John")
                                    .method(Method.ACTIVATION_PATCHING)
                                    .nodes(Nodes.neurons())
                                    .build())));
            assertEquals(Status.Code.DEADLINE_EXCEEDED, late.code());
        }
        assertFalse(client.models().isEmpty(), "the client still works");
    }
}
