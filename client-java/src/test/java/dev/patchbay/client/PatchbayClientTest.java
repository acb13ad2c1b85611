package dev.patchbay.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeFeaturesEvent;
import dev.patchbay.proto.v1.AttributeFeaturesRequest;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.EffectBlock;
import dev.patchbay.proto.v1.FeatureBlock;
import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.ListModelsResponse;
import dev.patchbay.proto.v1.ModelInfo;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.proto.v1.VerifiedFeature;
import dev.patchbay.proto.v1.VerifiedNode;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Java client against a fake service in the same process (grpc-java's in-process transport): how it turns
 * streamed messages into events and rows, errors into exceptions, and a closed stream into a cancelled call.
 * ClientEndToEndTest (in research/) runs it against the real server.
 */
class PatchbayClientTest {
    /** Answers "m" with a fixed stream; any other model is NOT_FOUND; model "slow" never finishes. */
    static final class FakeService extends PatchbayGrpc.PatchbayImplBase {
        final CountDownLatch cancelled = new CountDownLatch(1);
        final List<AttributeRequest> requests = new CopyOnWriteArrayList<>();

        @Override
        public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> out) {
            out.onNext(ListModelsResponse.newBuilder()
                    .addModels(ModelInfo.newBuilder().setName("m").setNLayers(2))
                    .build());
            out.onCompleted();
        }

        @Override
        public void attribute(AttributeRequest request, StreamObserver<AttributeEvent> out) {
            requests.add(request);
            ((ServerCallStreamObserver<AttributeEvent>) out).setOnCancelHandler(cancelled::countDown);
            if (request.getModel().equals("slow")) {
                out.onNext(AttributeEvent.newBuilder()
                        .setAccepted(Accepted.newBuilder().setNodeCount(4))
                        .build());
                return; // never completes: only a cancellation or a deadline ends it
            }
            if (!request.getModel().equals("m")) {
                out.onError(Status.NOT_FOUND
                        .withDescription("model: no model named '" + request.getModel() + "'")
                        .asRuntimeException());
                return;
            }
            out.onNext(AttributeEvent.newBuilder()
                    .setAccepted(Accepted.newBuilder()
                            .setRequestId("r1")
                            .setNodeCount(4)
                            .setMethod("atp")
                            .setMetric("logit_diff"))
                    .build());
            // Head outputs of layer 1 over all positions: units 0..3.
            out.onNext(AttributeEvent.newBuilder()
                    .setBlock(EffectBlock.newBuilder()
                            .setKind(NodeKind.HEAD_OUTPUT)
                            .setLayer(1)
                            .setUnits(4)
                            .addAllValues(List.of(0.5f, -2.0f, 0.25f, 1.0f)))
                    .build());
            out.onNext(AttributeEvent.newBuilder()
                    .setVerified(VerifiedNode.newBuilder()
                            .setRank(1)
                            .setNode(Nodes.parse("L1H1"))
                            .setEstimate(-2.0)
                            .setEffect(-1.5))
                    .build());
            out.onNext(AttributeEvent.newBuilder()
                    .setSummary(
                            Summary.newBuilder().setMethod("atp").setPairs(1).setForwardPasses(5))
                    .build());
            out.onCompleted();
        }

        /** Two pairs over one dictionary at blocks.1.hook_resid_pre, two positions; feature 7 changes in both. */
        @Override
        public void attributeFeatures(AttributeFeaturesRequest request, StreamObserver<AttributeFeaturesEvent> out) {
            out.onNext(AttributeFeaturesEvent.newBuilder()
                    .setBlock(FeatureBlock.newBuilder()
                            .setPair(0)
                            .setDictionary("res1")
                            .setLayer(1)
                            .setSite("resid_pre")
                            .addAllPositions(List.of(0, 1))
                            .addAllFeatures(List.of(7, 3))
                            .addAllEstimates(List.of(1.0, -0.5))
                            .addAllErrors(List.of(0.25, 0.0)))
                    .build());
            out.onNext(AttributeFeaturesEvent.newBuilder()
                    .setBlock(FeatureBlock.newBuilder()
                            .setPair(1)
                            .setDictionary("res1")
                            .setLayer(1)
                            .setSite("resid_pre")
                            .addAllPositions(List.of(0))
                            .addAllFeatures(List.of(7))
                            .addAllEstimates(List.of(3.0))
                            .addAllErrors(List.of(-0.25, 0.5)))
                    .build());
            out.onNext(AttributeFeaturesEvent.newBuilder()
                    .setVerified(VerifiedFeature.newBuilder()
                            .setRank(1)
                            .setDictionary("res1")
                            .setNode(Nodes.parseFeature("L1.resid_pre.f7@0"))
                            .setEstimate(2.0)
                            .setEffect(1.75))
                    .build());
            out.onNext(AttributeFeaturesEvent.newBuilder()
                    .setEdges(dev.patchbay.proto.v1.FeatureEdgeBlock.newBuilder()
                            .setPair(0)
                            .setUpstream("z0")
                            .setDownstream("res1")
                            .addEdges(dev.patchbay.proto.v1.FeatureEdge.newBuilder()
                                    .setName("L0.z.f2@0->L1.resid_pre.f7@0")
                                    .setEstimate(0.5)
                                    .setVerified(true)
                                    .setEffect(0.4))
                            .addEdges(dev.patchbay.proto.v1.FeatureEdge.newBuilder()
                                    .setName("L0.z.err@0->L1.resid_pre.f7@0")
                                    .setEstimate(0.1)))
                    .build());
            out.onNext(AttributeFeaturesEvent.newBuilder()
                    .setSummary(Summary.newBuilder().setMethod("atp").setPairs(2))
                    .build());
            out.onCompleted();
        }
    }

    @Test
    void featureBlocksBecomeRowsOfMeansOverPairsWithVerifiedEffects() {
        FeatureResults results = FeatureResults.collect(client.attributeFeatures(
                AttributeFeaturesRequest.newBuilder().setModel("m").build()));
        List<FeatureResults.Row> rows = results.rows().toList();
        assertEquals(
                List.of("L1.resid_pre.f7@0", "L1.resid_pre.f3@1", "L1.resid_pre.err@1", "L1.resid_pre.err@0"),
                rows.stream().map(FeatureResults.Row::name).toList());
        assertEquals(2.0, rows.get(0).estimate());
        assertEquals(1.75, rows.get(0).verifiedEffect());
        assertEquals(-0.25, rows.get(1).estimate());
        assertEquals(-1, rows.get(2).feature());
        assertEquals(0.0, rows.get(3).estimate());
        assertTrue(Double.isNaN(rows.get(1).verifiedEffect()));
        assertEquals(2, results.summary().getSummary().getPairs());
        assertEquals(2, results.edges().size());
        assertEquals(
                new FeatureResults.EdgeRow(0, "z0", "res1", "L0.z.f2@0->L1.resid_pre.f7@0", 0.5, 0.4),
                results.edges().get(0));
        assertTrue(Double.isNaN(results.edges().get(1).verifiedEffect()));
    }

    private FakeService service;
    private Server server;
    private ManagedChannel channel;
    private PatchbayClient client;

    @BeforeEach
    void start() throws Exception {
        String name = InProcessServerBuilder.generateName();
        service = new FakeService();
        server = InProcessServerBuilder.forName(name)
                .directExecutor()
                .addService(service)
                .build()
                .start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        client = PatchbayClient.over(channel);
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private static AttributeRequest request(String model) {
        return AttributionRequest.forModel(model)
                .pair("a b", "a c", " x", " y")
                .nodes(Nodes.heads())
                .build();
    }

    @Test
    void streamedMessagesBecomeTypedEventsWithNodeNames() {
        List<AttributionEvent> events = new ArrayList<>();
        try (Stream<AttributionEvent> s = client.attribute(request("m"))) {
            s.forEach(events::add);
        }
        assertEquals(4, events.size());
        assertEquals(new AttributionEvent.Accepted("r1", 4, 0, "atp", "logit_diff", "", ""), events.get(0));
        AttributionEvent.Effects effects = (AttributionEvent.Effects) events.get(1);
        assertEquals(
                List.of("L1H0", "L1H1", "L1H2", "L1H3"),
                effects.nodes().stream().map(NodeEffect::name).toList());
        assertEquals("z", effects.kind());
        assertEquals(-1.5, ((AttributionEvent.Verified) events.get(2)).effect());
        assertEquals(5, ((AttributionEvent.Summary) events.get(3)).forwardPasses());
        // The request carried what the builder was given.
        AttributeRequest sent = service.requests.get(0);
        assertEquals("m", sent.getModel());
        assertEquals(" x", sent.getPairs(0).getAnswers(0).getText());
    }

    @Test
    void perPositionAndWholeLayerBlocksNameEachValueByItsUnitAndPosition() {
        var neurons =
                new AttributionEvent.Effects(NodeKind.NEURON, 2, 3, new int[] {4, 9}, new float[] {1, 2, 3, 4, 5, 6});
        assertEquals(
                List.of("L2N0@4", "L2N1@4", "L2N2@4", "L2N0@9", "L2N1@9", "L2N2@9"),
                neurons.nodes().stream().map(NodeEffect::name).toList());
        assertEquals(new NodeEffect("L2N1@9", "post", 2, 1, 9, 5), neurons.node(4));
        var resid = new AttributionEvent.Effects(NodeKind.RESIDUAL, 0, 1, new int[] {0, 1}, new float[] {7, 8});
        assertEquals(
                List.of("L0.resid@0", "L0.resid@1"),
                resid.nodes().stream().map(NodeEffect::name).toList());
    }

    @Test
    void collectedResultsAreRowsLargestEffectFirstWithVerifiedEffectsJoined() {
        AttributionResults results = AttributionResults.collect(client.attribute(request("m")));
        List<AttributionResults.Row> rows = results.rows();
        assertEquals(
                List.of("L1H1", "L1H3", "L1H0", "L1H2"),
                rows.stream().map(AttributionResults.Row::name).toList());
        assertEquals(-1.5, rows.get(0).verifiedEffect());
        assertTrue(Double.isNaN(rows.get(1).verifiedEffect()));
    }

    @Test
    void aServerErrorIsAnExceptionWithItsStatusAndMessage() {
        PatchbayException e = assertThrows(
                PatchbayException.class, () -> AttributionResults.collect(client.attribute(request("nope"))));
        assertEquals(Status.Code.NOT_FOUND, e.code());
        assertTrue(e.getMessage().contains("no model named 'nope'"), e.getMessage());
        assertEquals("m", client.models().get(0).getName(), "the client still works");
    }

    @Test
    void closingTheStreamEarlyCancelsTheCall() throws InterruptedException {
        try (Stream<AttributionEvent> s = client.attribute(request("slow"))) {
            assertTrue(s.findFirst().orElseThrow() instanceof AttributionEvent.Accepted);
        }
        assertTrue(service.cancelled.await(10, TimeUnit.SECONDS), "the server saw the cancellation");
    }

    @Test
    void aTimeoutEndsTheCallWithDeadlineExceeded() {
        PatchbayException e = assertThrows(
                PatchbayException.class,
                () -> AttributionResults.collect(
                        client.withTimeout(Duration.ofMillis(100)).attribute(request("slow"))));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, e.code());
    }

    @Test
    void anAsyncCallDeliversEventsAndCanBeCancelled() throws InterruptedException {
        List<AttributionEvent> events = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        client.attributeAsync(request("m"), new PatchbayClient.Listener() {
            @Override
            public void onEvent(AttributionEvent event) {
                events.add(event);
            }

            @Override
            public void onCompleted() {
                done.countDown();
            }
        });
        assertTrue(done.await(10, TimeUnit.SECONDS));
        assertEquals(4, events.size());
        PatchbayClient.Call call = client.attributeAsync(request("slow"), event -> {});
        call.cancel();
        assertTrue(service.cancelled.await(10, TimeUnit.SECONDS), "the server saw the cancellation");
    }
}
