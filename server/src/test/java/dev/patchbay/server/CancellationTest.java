package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.Device;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.BaselineOptions;
import dev.patchbay.proto.v1.DiagnosticOptions;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.NodeSet;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every method's long loop ends when its call is cancelled: the sampling of Subsampling and the diagnostic, the
 * refinement of Hierarchical, Iterative's and Blocks' patching, and verification. Each request is cancelled at
 * its first progress event and must leave the device within a batch or so, having run a small part of its plan.
 */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class CancellationTest {
    private static LoadedModel model;
    private static PatchbayServer server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        model = TestCheckpoints.load("tiny-llama", DataType.FLOAT32);
        String name = InProcessServerBuilder.generateName();
        // Four rows a batch and no cache: every request runs many batches.
        server = PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                Map.of("m", model),
                new SchedulerConfig(4, 8192, Duration.ZERO, 0),
                ServerLimits.defaults());
        channel = InProcessChannelBuilder.forName(name).build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        model.close();
    }

    static Stream<Arguments> methods() {
        UnaryOperator<AttributeRequest.Builder> plain = b -> b;
        return Stream.of(
                Arguments.of("activation patching", Method.ACTIVATION_PATCHING, plain),
                Arguments.of(
                        "iterative, verifying its top 1000", Method.ITERATIVE, (UnaryOperator<AttributeRequest.Builder>)
                                b -> b.setVerifyTopK(1000)),
                Arguments.of("subsampling", Method.SUBSAMPLING, (UnaryOperator<AttributeRequest.Builder>)
                        b -> b.setBaseline(BaselineOptions.newBuilder().setSamples(2000))),
                Arguments.of("blocks", Method.BLOCKS, (UnaryOperator<AttributeRequest.Builder>)
                        b -> b.setBaseline(BaselineOptions.newBuilder().setBlockSize(1))),
                Arguments.of("hierarchical", Method.HIERARCHICAL, plain),
                Arguments.of("AtP, verifying its top 1000", Method.ATP, (UnaryOperator<AttributeRequest.Builder>)
                        b -> b.setVerifyTopK(1000)),
                Arguments.of(
                        "AtP*, verifying and diagnosing", Method.ATP_STAR, (UnaryOperator<AttributeRequest.Builder>)
                                b -> b.setVerifyTopK(4)
                                        .setDiagnostic(DiagnosticOptions.newBuilder()
                                                .setEnabled(true)
                                                .setSamples(4000))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("methods")
    void aCancelledRequestLeavesTheDeviceWithinABatch(
            String name, Method method, UnaryOperator<AttributeRequest.Builder> options) throws Exception {
        AttributeRequest request = options.apply(AttributeRequest.newBuilder()
                        .setModel("m")
                        .addPairs(AttributeServiceTest.pair(AttributeServiceTest.CLEAN, AttributeServiceTest.NOISE))
                        .setMethod(method)
                        .setNodes(NodeSet.newBuilder().addKinds(NodeKind.NEURON).setPerPosition(true)))
                .build();
        Device device = server.device("m");
        long before = device.passes();
        AtomicReference<Double> planned = new AtomicReference<>(0.0);
        CountDownLatch progressed = new CountDownLatch(1);
        Context.CancellableContext context = Context.current().withCancellation();
        context.run(() -> PatchbayGrpc.newStub(channel).attribute(request, new StreamObserver<>() {
            @Override
            public void onNext(AttributeEvent e) {
                if (e.hasAccepted()) {
                    planned.set(e.getAccepted().getPlannedForwardPasses());
                }
                if (e.hasProgress()) {
                    progressed.countDown();
                }
            }

            @Override
            public void onError(Throwable t) {
                progressed.countDown();
            }

            @Override
            public void onCompleted() {
                progressed.countDown();
            }
        }));
        assertTrue(progressed.await(60, TimeUnit.SECONDS), name + " never reported progress");
        context.cancel(null);
        AttributeServiceTest.awaitNoOpenJobs(device);
        long ran = device.passes() - before;
        // Planned forward passes are rows; a pass is a batch of up to 4 of them.
        double plannedPasses = planned.get() / 4;
        System.out.printf("cancelled %s: %d of about %.0f planned passes ran%n", name, ran, plannedPasses);
        assertTrue(plannedPasses > 100, name + " plans only " + plannedPasses + " passes: not a long loop");
        assertTrue(ran < plannedPasses / 4, name + ": the device ran " + ran + " of " + plannedPasses + " passes");
    }
}
