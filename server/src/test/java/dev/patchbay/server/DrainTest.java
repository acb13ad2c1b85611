package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.Device;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.NodeSet;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A stopping server (SIGTERM) used to give running requests CANCELLED after a fixed 5 s; clients and load
 * balancers expect health to turn NOT_SERVING, running work to finish within a drain period, and what is still
 * running then to end with UNAVAILABLE, which a client may retry elsewhere.
 */
class DrainTest {
    @Test
    void drainingTurnsHealthNotServingFinishesShortRequestsAndEndsLongOnesWithUnavailable() throws Exception {
        try (LoadedModel model = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32)) {
            String name = InProcessServerBuilder.generateName();
            PatchbayServer server = start(name, model);
            ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
            try {
                BlockingQueue<ServingStatus> health = new LinkedBlockingQueue<>();
                HealthGrpc.newStub(channel).watch(HealthCheckRequest.getDefaultInstance(), new StreamObserver<>() {
                    @Override
                    public void onNext(HealthCheckResponse r) {
                        health.add(r.getStatus());
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                });
                assertEquals(ServingStatus.SERVING, health.poll(10, TimeUnit.SECONDS));

                // Activation patching of every neuron at every position, 4 rows a batch: thousands of batches; and the
                // device held, so that it outlives the drain on hardware of any speed.
                Device.Hold held = server.device("m").hold();
                Iterator<AttributeEvent> long_ = PatchbayGrpc.newBlockingStub(channel)
                        .attribute(request(Method.ACTIVATION_PATCHING, NodeKind.NEURON, true));
                assertTrue(long_.next().hasAccepted(), "the long request is running");

                CompletableFuture<Void> drained = CompletableFuture.runAsync(() -> {
                    try {
                        server.drain(Duration.ofMillis(500));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                assertEquals(ServingStatus.NOT_SERVING, health.poll(10, TimeUnit.SECONDS));
                StatusRuntimeException ended = assertThrows(StatusRuntimeException.class, () -> {
                    while (long_.hasNext()) {
                        long_.next();
                    }
                });
                assertEquals(Status.Code.UNAVAILABLE, ended.getStatus().getCode(), ended.getMessage());
                assertTrue(ended.getStatus().getDescription().contains("shutting down"), ended.getMessage());
                held.close();
                drained.get(30, TimeUnit.SECONDS);

                StatusRuntimeException refused = assertThrows(
                        StatusRuntimeException.class,
                        () -> PatchbayGrpc.newBlockingStub(channel).listModels(ListModelsRequest.getDefaultInstance()));
                assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode(), refused.getMessage());
            } finally {
                channel.shutdownNow();
            }
        }
    }

    @Test
    void aRequestThatFinishesWithinTheDrainGetsItsWholeResult() throws Exception {
        try (LoadedModel model = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32)) {
            String name = InProcessServerBuilder.generateName();
            PatchbayServer server = start(name, model);
            ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
            try {
                Iterator<AttributeEvent> events = PatchbayGrpc.newBlockingStub(channel)
                        .attribute(request(Method.ATP_STAR, NodeKind.HEAD_OUTPUT, false));
                assertTrue(events.next().hasAccepted());
                CompletableFuture<Void> drained = CompletableFuture.runAsync(() -> {
                    try {
                        server.drain(Duration.ofSeconds(30));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                AttributeEvent last = null;
                while (events.hasNext()) {
                    last = events.next();
                }
                assertNotNull(last);
                assertTrue(last.hasSummary(), "the request finished: " + last);
                drained.get(30, TimeUnit.SECONDS);
            } finally {
                channel.shutdownNow();
            }
        }
    }

    /** Four rows a batch, no cache: a long request runs many batches. */
    private static PatchbayServer start(String name, LoadedModel model) throws java.io.IOException {
        return PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                Map.of("m", model),
                new SchedulerConfig(4, 8192, Duration.ZERO, 0),
                ServerLimits.defaults());
    }

    private static AttributeRequest request(Method method, NodeKind kind, boolean perPosition) {
        return AttributeRequest.newBuilder()
                .setModel("m")
                .addPairs(AttributeServiceTest.pair(AttributeServiceTest.CLEAN, AttributeServiceTest.NOISE))
                .setMethod(method)
                .setNodes(NodeSet.newBuilder().addKinds(kind).setPerPosition(perPosition))
                .build();
    }
}
