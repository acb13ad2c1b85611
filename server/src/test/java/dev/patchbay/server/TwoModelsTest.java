package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.EffectBlock;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Two models served at once differentiate at the same time on their own device threads. DJL's gradient
 * collector is one flag per process, so before gradient mode was set per thread 13 of these 40 requests failed
 * with "A PtGradientCollector is already collecting".
 */
class TwoModelsTest {
    private static final List<String> MODELS = List.of("tiny-gpt2", "tiny-llama");

    @Test
    void concurrentAtPStarRequestsOnTwoModelsAllSucceedWithTheResultsOfRequestsRunAlone() throws Exception {
        LoadedModel gpt2 = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        LoadedModel llama = TestCheckpoints.load("tiny-llama", DataType.FLOAT32);
        // No cache and no merging: every request runs its own gradient passes, as many at once as possible.
        String name = InProcessServerBuilder.generateName();
        try (PatchbayServer server = PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                Map.of("tiny-gpt2", gpt2, "tiny-llama", llama),
                new SchedulerConfig(1, 8192, Duration.ZERO, 0),
                ServerLimits.defaults())) {
            ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
            try {
                Map<String, List<Float>> alone = Map.of(
                        MODELS.get(0), values(channel, MODELS.get(0)), MODELS.get(1), values(channel, MODELS.get(1)));
                ExecutorService clients = Executors.newFixedThreadPool(8);
                List<Future<List<Float>>> results = new ArrayList<>();
                for (int i = 0; i < 40; i++) {
                    String model = MODELS.get(i % 2);
                    results.add(clients.submit(() -> values(channel, model)));
                }
                for (int i = 0; i < results.size(); i++) {
                    List<Float> got = results.get(i).get(5, TimeUnit.MINUTES); // a failed request throws here
                    List<Float> expected = alone.get(MODELS.get(i % 2));
                    assertEquals(expected.size(), got.size());
                    for (int j = 0; j < got.size(); j++) {
                        // The same passes on the same thread's kernels: equal up to float32 summation order.
                        assertEquals(
                                expected.get(j),
                                got.get(j),
                                1e-5 * (1 + Math.abs(expected.get(j))),
                                "request " + i + " on " + MODELS.get(i % 2) + ", value " + j);
                    }
                }
                clients.shutdown();
                assertTrue(clients.awaitTermination(10, TimeUnit.SECONDS));
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } finally {
            gpt2.close();
            llama.close();
        }
    }

    /** Every AtP* estimate of one request, in stream order. */
    private static List<Float> values(ManagedChannel channel, String model) {
        AttributeRequest request = AttributeServiceTest.request(
                        model, Method.ATP_STAR, AttributeServiceTest.perPosition(NodeKind.HEAD_OUTPUT, NodeKind.NEURON))
                .build();
        List<Float> values = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).attribute(request).forEachRemaining(event -> {
            if (event.getEventCase() == AttributeEvent.EventCase.BLOCK) {
                EffectBlock block = event.getBlock();
                values.addAll(block.getValuesList());
            }
        });
        assertTrue(!values.isEmpty(), "no effects streamed for " + model);
        return values;
    }
}
