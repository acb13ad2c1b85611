package dev.patchbay.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.ListModelsResponse;
import dev.patchbay.proto.v1.ModelInfo;
import dev.patchbay.proto.v1.PatchbayGrpc;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * One client over two replicas on loopback ports (fake services with the standard health service): calls are
 * spread round-robin, and a replica whose health turns NOT_SERVING (a draining server) stops receiving calls.
 */
class ReplicasTest {
    /** A replica that answers ListModels with its own name and counts the calls. */
    static final class Replica extends PatchbayGrpc.PatchbayImplBase {
        final String name;
        final AtomicInteger calls = new AtomicInteger();

        Replica(String name) {
            this.name = name;
        }

        @Override
        public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> out) {
            calls.incrementAndGet();
            out.onNext(ListModelsResponse.newBuilder()
                    .addModels(ModelInfo.newBuilder().setName(name))
                    .build());
            out.onCompleted();
        }
    }

    private final List<Server> servers = new ArrayList<>();
    private final List<HealthStatusManager> health = new ArrayList<>();
    private final List<Replica> replicas = List.of(new Replica("a"), new Replica("b"));

    @BeforeEach
    void start() throws Exception {
        for (Replica r : replicas) {
            HealthStatusManager h = new HealthStatusManager();
            health.add(h);
            servers.add(Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
                    .addService(r)
                    .addService(h.getHealthService())
                    .build()
                    .start());
        }
    }

    @AfterEach
    void stop() throws Exception {
        for (Server s : servers) {
            s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private List<String> addresses() {
        return servers.stream().map(s -> "127.0.0.1:" + s.getPort()).toList();
    }

    @Test
    void callsAreSpreadOverTheReplicasAndADrainingOneGetsNoMore() throws Exception {
        try (PatchbayClient client = PatchbayClient.connect(addresses())) {
            for (int i = 0; i < 40; i++) {
                client.models();
            }
            assertEquals(40, replicas.get(0).calls.get() + replicas.get(1).calls.get());
            assertTrue(
                    replicas.get(0).calls.get() >= 10 && replicas.get(1).calls.get() >= 10,
                    "round_robin: " + replicas.get(0).calls + " and " + replicas.get(1).calls);

            health.get(1).enterTerminalState(); // what a draining server does first
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            int before;
            do { // the health watch reaches the client asynchronously
                before = replicas.get(1).calls.get();
                for (int i = 0; i < 10; i++) {
                    client.models();
                }
            } while (replicas.get(1).calls.get() != before && System.nanoTime() < until);
            int drained = replicas.get(1).calls.get();
            for (int i = 0; i < 30; i++) {
                assertEquals("a", client.models().get(0).getName(), "call " + i);
            }
            assertEquals(drained, replicas.get(1).calls.get(), "the draining replica got no further call");
        }
    }

    @Test
    void aReplicaThatIsNotHostAndPortIsRefusedBeforeConnecting() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> PatchbayClient.connect(List.of("127.0.0.1:1", "nohost")));
        assertTrue(e.getMessage().contains("'nohost' is not host:port"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PatchbayClient.connect(List.<String>of()));
    }
}
