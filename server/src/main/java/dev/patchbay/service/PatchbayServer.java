package dev.patchbay.service;

import dev.patchbay.checkpoint.LoadedModel;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running gRPC server: the Patchbay service, standard health checking and server reflection. */
public final class PatchbayServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PatchbayServer.class);

    private final Server server;
    private final HealthStatusManager health;

    private PatchbayServer(Server server, HealthStatusManager health) {
        this.server = server;
        this.health = health;
    }

    /** Starts serving {@code models} on {@code port} (0 picks a free port). */
    public static PatchbayServer start(int port, Map<String, LoadedModel> models) throws IOException {
        HealthStatusManager health = new HealthStatusManager();
        Server server = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create())
                // Handlers do no blocking work on the transport's threads; the default executor's
                // hand-off is the bottleneck on small machines.
                .directExecutor()
                .addService(new PatchbayService(models))
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance())
                .build()
                .start();
        PatchbayServer running = new PatchbayServer(server, health);
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus("patchbay.v1.Patchbay", ServingStatus.SERVING);
        log.info("listening on port {} with models {}", server.getPort(), models.keySet());
        return running;
    }

    public int port() {
        return server.getPort();
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() throws InterruptedException {
        health.enterTerminalState();
        server.shutdown();
        if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
            server.shutdownNow();
        }
    }
}
