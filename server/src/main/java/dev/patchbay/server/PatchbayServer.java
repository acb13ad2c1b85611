package dev.patchbay.server;

import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.Device;
import dev.patchbay.execution.MemoryPool;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.operations.RequestLimits;
import dev.patchbay.server.config.ServerConfig;
import dev.patchbay.server.config.ServerLimits;
import dev.patchbay.server.mapping.ServedModel;
import dev.patchbay.server.rpc.AccessLog;
import dev.patchbay.server.rpc.ErrorText;
import dev.patchbay.server.rpc.MalformedMessages;
import dev.patchbay.server.rpc.PatchbayService;
import dev.patchbay.server.rpc.UnknownMethods;
import dev.patchbay.server.security.BearerTokens;
import dev.patchbay.server.security.TransportSecurity;
import io.grpc.BindableService;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running gRPC server: the Patchbay service, standard health checking and server reflection. */
public final class PatchbayServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PatchbayServer.class);

    private final Server server;
    /** The plaintext health-only server for probes that cannot speak TLS, or null. */
    private final Server healthServer;

    private final HealthStatusManager health;
    private final Map<String, Device> devices;
    private final ThreadPoolExecutor jobs;
    private final ExecutorService handlers;
    private final ExecutorService healthChecks;
    private final PatchbayService service;

    /** Threads that run the RPC handlers (parsing, tokenizing, planning); the work runs on the jobs' threads. */
    private static final int HANDLER_THREADS = 4;

    /** Health checks' own threads: a probe is answered while every handler parses a large request. */
    private static final int HEALTH_THREADS = 2;

    /** The largest message the health-only port reads: a HealthCheckRequest is a service name. */
    private static final int HEALTH_MAX_MESSAGE_BYTES = 4096;

    private PatchbayServer(
            Server server,
            Server healthServer,
            HealthStatusManager health,
            Map<String, Device> devices,
            ThreadPoolExecutor jobs,
            ExecutorService handlers,
            ExecutorService healthChecks,
            PatchbayService service) {
        this.handlers = handlers;
        this.healthChecks = healthChecks;
        this.service = service;
        this.server = server;
        this.healthServer = healthServer;
        this.health = health;
        this.devices = devices;
        this.jobs = jobs;
    }

    /** Serves {@code models} on {@code port} (0 picks a free port) with default limits. */
    public static PatchbayServer start(int port, Map<String, LoadedModel> models) throws IOException {
        return start(port, models, SchedulerConfig.defaults(), ServerLimits.defaults());
    }

    /** Serves {@code models} on the loopback interface at {@code port} (0 picks a free port), plaintext. */
    public static PatchbayServer start(
            int port, Map<String, LoadedModel> models, SchedulerConfig scheduler, ServerLimits limits)
            throws IOException {
        return start(ServerConfig.DEFAULT_HOST, port, models, scheduler, limits);
    }

    /**
     * Serves {@code models} on {@code host} (an interface's address or name; "0.0.0.0" for every interface) at
     * {@code port}, plaintext.
     */
    public static PatchbayServer start(
            String host, int port, Map<String, LoadedModel> models, SchedulerConfig scheduler, ServerLimits limits)
            throws IOException {
        return start(host, port, models, scheduler, limits, TransportSecurity.PLAINTEXT);
    }

    /**
     * Serves {@code models} on {@code host} at {@code port} with {@code security}: TLS or mutual TLS, and bearer
     * tokens required on every call but the health service's.
     */
    public static PatchbayServer start(
            String host,
            int port,
            Map<String, LoadedModel> models,
            SchedulerConfig scheduler,
            ServerLimits limits,
            TransportSecurity security)
            throws IOException {
        return start(host, port, ServerConfig.NO_HEALTH_PORT, models, scheduler, limits, security);
    }

    /**
     * As above, and with {@code healthPort} at or above 0 (0 picks a free port) a second, plaintext port on
     * {@code host} that serves the health service alone: Kubernetes' gRPC probes cannot speak TLS, and health
     * carries no data (the same statuses the main port reports, NOT_SERVING while draining).
     */
    public static PatchbayServer start(
            String host,
            int port,
            int healthPort,
            Map<String, LoadedModel> models,
            SchedulerConfig scheduler,
            ServerLimits limits,
            TransportSecurity security)
            throws IOException {
        ServerBuilder<?> healthTransport = healthPort < 0
                ? null
                : NettyServerBuilder.forAddress(
                        new InetSocketAddress(host, healthPort), InsecureServerCredentials.create());
        return start(
                NettyServerBuilder.forAddress(new InetSocketAddress(host, port), security.credentials()),
                healthTransport,
                models,
                scheduler,
                limits,
                security.tokens());
    }

    /**
     * Serves {@code models} through {@code transport}: a Netty server for a port, or grpc-java's in-process
     * transport for tests where a socket adds nothing.
     */
    public static PatchbayServer start(
            ServerBuilder<?> transport, Map<String, LoadedModel> models, SchedulerConfig scheduler, ServerLimits limits)
            throws IOException {
        return start(transport, models, scheduler, limits, null);
    }

    /**
     * Serves {@code models} through {@code transport}; with {@code tokens}, every call but health checks needs a
     * valid bearer token (load balancers and Kubernetes probe health without credentials).
     */
    public static PatchbayServer start(
            ServerBuilder<?> transport,
            Map<String, LoadedModel> models,
            SchedulerConfig scheduler,
            ServerLimits limits,
            BearerTokens tokens)
            throws IOException {
        return start(transport, null, models, scheduler, limits, tokens);
    }

    /**
     * Serves {@code models} through {@code transport}, and health alone, in plaintext and without tokens, through
     * {@code healthTransport} where it is not null.
     */
    public static PatchbayServer start(
            ServerBuilder<?> transport,
            ServerBuilder<?> healthTransport,
            Map<String, LoadedModel> models,
            SchedulerConfig scheduler,
            ServerLimits limits,
            BearerTokens tokens)
            throws IOException {
        Map<String, Device> devices = new LinkedHashMap<>();
        Map<String, ServedModel> served = new LinkedHashMap<>();
        RequestLimits requestLimits = limits.forRequests(scheduler.maxBatchRows());
        // One memory budget for the process, whatever the number of models: their batches share it at run time, and
        // the clean caches share --cache-bytes, each model's cache an equal part of it.
        MemoryPool pool = new MemoryPool(scheduler.memoryBudget(), scheduler.cacheBytes());
        SchedulerConfig perModel = new SchedulerConfig(
                scheduler.maxBatchRows(),
                scheduler.maxBatchTokens(),
                scheduler.queueDelay(),
                scheduler.cacheBytes() / Math.max(1, models.size()),
                scheduler.memoryBudget());
        models.forEach((name, m) -> {
            Device device = new Device(name, m.transformer(), perModel, pool);
            devices.put(name, device);
            served.put(name, ServedModel.of(m, device, requestLimits));
        });
        AtomicInteger threads = new AtomicInteger();
        // Request threads only orchestrate and wait for the devices; a full pool refuses new requests.
        ThreadPoolExecutor jobs = new ThreadPoolExecutor(
                0, limits.maxConcurrentJobs(), 30, TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
                    Thread t = new Thread(r, "patchbay-request-" + threads.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        HealthStatusManager health = new HealthStatusManager();
        // Handlers parse and tokenize requests: on a few threads of their own, never on the transport's event
        // loop (grpc-java's directExecutor requires handlers that never block), and never an unbounded number.
        AtomicInteger handlerThreads = new AtomicInteger();
        // Unbounded queue, so nothing is refused while serving; once a drain has shut the pool down, a transport's late
        // callback for a call that already ended (a client still reading as the drain finishes) is dropped instead of
        // being thrown into the transport (DrainTest met it, rarely, on the in-process transport).
        ExecutorService handlers = new java.util.concurrent.ThreadPoolExecutor(
                HANDLER_THREADS,
                HANDLER_THREADS,
                0,
                TimeUnit.MILLISECONDS,
                new java.util.concurrent.LinkedBlockingQueue<>(),
                r -> {
                    Thread t = new Thread(r, "patchbay-handler-" + handlerThreads.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                },
                new java.util.concurrent.ThreadPoolExecutor.DiscardPolicy());
        ExecutorService healthChecks = Executors.newFixedThreadPool(HEALTH_THREADS, r -> {
            Thread t = new Thread(r, "patchbay-health");
            t.setDaemon(true);
            return t;
        });
        AccessLog accessLog = new AccessLog();
        MalformedMessages malformed = new MalformedMessages();
        PatchbayService service = new PatchbayService(served, limits, jobs, accessLog);
        ServerServiceDefinition healthService =
                malformed.guard(health.getHealthService().bindService());
        Server server = transport
                .executor(handlers)
                // Health checks (and their messages' parsing) run on threads of their own.
                .callExecutor(new ServerCallExecutorSupplier() {
                    @Override
                    public <Q, R> Executor getExecutor(ServerCall<Q, R> call, Metadata headers) {
                        String name = call.getMethodDescriptor().getServiceName();
                        return HealthGrpc.SERVICE_NAME.equals(name) ? healthChecks : null;
                    }
                })
                .maxInboundMessageSize(limits.maxRequestBytes())
                // Outermost the access log, so refused calls (no token, malformed bytes) are logged and counted.
                .addService(ServerInterceptors.intercept(
                        requiringTokens(malformed.guard(service.bindService()), tokens),
                        ErrorText.interceptor(),
                        accessLog))
                .addService(healthService)
                .addService(requiringTokens(ProtoReflectionServiceV1.newInstance(), tokens))
                // v1alpha too: Python's grpc_reflection and older grpcurl ask for it.
                .addService(requiringTokens(reflectionV1Alpha(), tokens))
                .fallbackHandlerRegistry(new UnknownMethods(tokens))
                .build()
                .start();
        Server healthServer = null;
        if (healthTransport != null) {
            healthServer = healthTransport
                    .executor(healthChecks)
                    .maxInboundMessageSize(HEALTH_MAX_MESSAGE_BYTES)
                    .addService(healthService)
                    .build()
                    .start();
            log.info("health alone, plaintext, on {}", healthServer.getListenSockets());
        }
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus("patchbay.v1.Patchbay", ServingStatus.SERVING);
        log.info("listening on {} with models {}", server.getListenSockets(), models.keySet());
        return new PatchbayServer(server, healthServer, health, devices, jobs, handlers, healthChecks, service);
    }

    private static ServerServiceDefinition requiringTokens(BindableService service, BearerTokens tokens) {
        return requiringTokens(service.bindService(), tokens);
    }

    private static ServerServiceDefinition requiringTokens(ServerServiceDefinition service, BearerTokens tokens) {
        return tokens == null ? service : ServerInterceptors.intercept(service, tokens);
    }

    @SuppressWarnings("deprecation") // deprecated in favour of v1, which is served beside it
    private static BindableService reflectionV1Alpha() {
        return io.grpc.protobuf.services.ProtoReflectionService.newInstance();
    }

    /** The addresses listened on (empty on the in-process transport). */
    public List<? extends SocketAddress> addresses() {
        return server.getListenSockets();
    }

    /** The port listened on; -1 on the in-process transport. */
    public int port() {
        return server.getPort();
    }

    /** The plaintext health-only port, or -1 where there is none. */
    public int healthPort() {
        return healthServer == null ? -1 : healthServer.getPort();
    }

    /** The memory budget every model's batches share. */
    public MemoryPool memoryPool() {
        return devices.values().iterator().next().pool();
    }

    /** The device running a model's passes (for metrics and tests). */
    public Device device(String model) {
        return devices.get(model);
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    /** Stops as {@link #drain} does, with five seconds for running requests. */
    @Override
    public void close() throws InterruptedException {
        drain(Duration.ofSeconds(5));
    }

    /**
     * Stops gracefully: health turns NOT_SERVING (so load balancers send no more work), new calls are refused
     * with UNAVAILABLE, running requests get {@code timeout} to finish, and those still running then end with
     * UNAVAILABLE, which clients may retry on another server. Then the devices and threads stop.
     */
    public void drain(Duration timeout) throws InterruptedException {
        health.enterTerminalState();
        server.shutdown();
        if (!server.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            log.info("requests still running after the {} s drain; ending them with UNAVAILABLE", timeout.toSeconds());
            service.stopRunning();
            // Time for the cancelled jobs to send their status before the transport closes the streams.
            if (!server.awaitTermination(2, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        }
        devices.values().forEach(Device::close);
        jobs.shutdownNow();
        jobs.awaitTermination(5, TimeUnit.SECONDS);
        handlers.shutdownNow();
        handlers.awaitTermination(5, TimeUnit.SECONDS);
        // Last: probes see NOT_SERVING for the whole drain.
        if (healthServer != null) {
            healthServer.shutdownNow();
            healthServer.awaitTermination(5, TimeUnit.SECONDS);
        }
        healthChecks.shutdownNow();
        healthChecks.awaitTermination(5, TimeUnit.SECONDS);
    }
}
