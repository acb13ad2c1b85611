package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.Device;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.SweepEvent;
import dev.patchbay.proto.v1.SweepRequest;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A client that stops reading makes the server stop computing for it, instead of buffering results without
 * bound; when the client reads again, the work resumes and every result arrives.
 */
class BackpressureTest {
    @Test
    void aSlowReaderPausesItsWorkAndLosesNothing() throws Exception {
        try (LoadedModel model = TestCheckpoints.load("tiny-llama", DataType.FLOAT32)) {
            PatchbayServer server = PatchbayServer.start(
                    0,
                    Map.of("tiny-llama", model),
                    new SchedulerConfig(8, 8192, Duration.ZERO, 0),
                    ServerLimits.defaults());
            // A small receive window, so that unread results fill the transport quickly.
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port())
                    .usePlaintext()
                    .flowControlWindow(64 * 1024)
                    .build();
            try {
                int jobs = 60;
                AtomicInteger summaries = new AtomicInteger();
                CountDownLatch done = new CountDownLatch(1);
                ClientCallStreamObserver<SweepRequest>[] call = new ClientCallStreamObserver[1];
                var requests = PatchbayGrpc.newStub(channel)
                        .sweep(new ClientResponseObserver<SweepRequest, SweepEvent>() {
                            @Override
                            public void beforeStart(ClientCallStreamObserver<SweepRequest> stream) {
                                call[0] = stream;
                                stream.disableAutoRequestWithInitial(0); // read nothing until told to
                            }

                            @Override
                            public void onNext(SweepEvent e) {
                                if (e.getAttribute().hasSummary()) {
                                    summaries.incrementAndGet();
                                }
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
                for (int j = 0; j < jobs; j++) {
                    // Every neuron at every position: about 16 KB of results per layer.
                    requests.onNext(SweepRequest.newBuilder()
                            .setJobId("j" + j)
                            .setJob(AttributeServiceTest.request(
                                    "tiny-llama", Method.ATP, AttributeServiceTest.perPosition(NodeKind.NEURON)))
                            .build());
                }
                requests.onCompleted();
                Device device = server.device("tiny-llama");
                // Each job is one AtP pass (one pair); passes are counted one by one, however they were merged.
                long stalled = waitForStall(device);
                assertTrue(
                        stalled < jobs / 2,
                        "the server ran " + stalled + " passes of " + jobs + " jobs for a client that read nothing");
                call[0].request(Integer.MAX_VALUE);
                assertTrue(done.await(120, TimeUnit.SECONDS));
                assertEquals(jobs, summaries.get(), "every job's results arrive once the client reads");
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                server.close();
            }
        }
    }

    /**
     * The device's pass count once work has started and every open request waits for its client: nothing can then
     * run until the client reads (a condition of the queue, not a time without progress, so a slow device cannot
     * pass for a stalled one).
     */
    private static long waitForStall(Device device) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (device.passes() == 0 || !device.stalledOnClients()) {
            assertTrue(System.nanoTime() < deadline, "the device never stalled on its client");
            Thread.sleep(10);
        }
        return device.passes();
    }
}
