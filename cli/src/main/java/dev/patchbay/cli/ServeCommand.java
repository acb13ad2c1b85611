package dev.patchbay.cli;

import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.MemoryPool;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.server.PatchbayServer;
import dev.patchbay.server.config.ServerConfig;
import dev.patchbay.server.config.ServerLimits;
import dev.patchbay.server.security.TransportSecurity;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Starts the gRPC server. Every flag can also come from a properties file given with --config, under the
 * flag's name without dashes (e.g. {@code cache-bytes=2147483648}); flags on the command line win. The defaults
 * are {@link ServerConfig#flagDefaults()}'s, given to picocli by {@link ConfigFileDefaults}.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, description = "Serves the Patchbay gRPC API.")
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--config", description = "A properties file of flag values (keys are flag names without dashes).")
    Path config;

    @Option(
            names = "--host",
            description = "Interface to listen on; 0.0.0.0 for every one, which opens the server to the network"
                    + " (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", description = "Port to listen on; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(
            names = "--health-port",
            description = "A second, plaintext port serving only gRPC health on --host, for probes that cannot speak"
                    + " TLS (Kubernetes' grpc probe); -1: none (default: ${DEFAULT-VALUE}).")
    int healthPort;

    @Mixin
    DtypeOption precision = new DtypeOption();

    @Mixin
    DeviceOption device = new DeviceOption();

    @Option(names = "--tls-cert", description = "The server's certificate chain (PEM): serve over TLS.")
    Path tlsCert;

    @Option(names = "--tls-key", description = "The server's private key (PEM, PKCS#8), with --tls-cert.")
    Path tlsKey;

    @Option(
            names = "--tls-client-ca",
            description = "CA certificates (PEM): mutual TLS, every client must present a certificate they signed.")
    Path tlsClientCa;

    @Option(
            names = "--auth-tokens",
            description = "A file of bearer tokens, one a line: every call but health checks must carry one"
                    + " (authorization: Bearer <token>).")
    Path authTokens;

    @Option(
            names = "--model",
            split = ",",
            description = "Hugging Face model directory to load; repeat for several (default: "
                    + BundledModel.RELATIVE_PATH + ").")
    List<Path> models;

    @Option(
            names = "--dictionary",
            description = "A sparse dictionary (SAE or transcoder) in the SAELens layout to splice into a model:"
                    + " [MODEL/]NAME=DIR[@SITE] (the model may be left out when one is served; SITE defaults to the"
                    + " site its cfg.json names); repeat for several. Its features become nodes for attribute"
                    + " --features and AttributeFeatures.")
    List<String> dictionaries;

    @Option(
            names = "--cache-bytes",
            description =
                    "Native memory for the caches of clean activations, shared equally by the served models (default:"
                            + " ${DEFAULT-VALUE}; 0 disables them).")
    long cacheBytes;

    @Option(
            names = "--memory-budget",
            description = "Native bytes the process may hold for all its models: the clean caches (--cache-bytes)"
                    + " and a sixteenth for KV caches are set aside, the rest is shared by the batches"
                    + " running at once; batches are sized to fit and a prompt too long for one row is refused"
                    + " (default: half of the GPU's memory on a GPU, else ${DEFAULT-VALUE}, half of physical"
                    + " memory).")
    long memoryBudget;

    @Option(
            names = "--drain-seconds",
            description = "On SIGTERM: stop accepting, let running requests finish for this long, then fail the"
                    + " rest with UNAVAILABLE (default: ${DEFAULT-VALUE}).")
    int drainSeconds;

    @Option(
            names = "--max-batch-rows",
            description = "Rows (pairs or patched runs) per batched pass (default: ${DEFAULT-VALUE}).")
    int maxBatchRows;

    @Option(
            names = "--max-batch-tokens",
            description = "Rows times padded length per batched pass (default: ${DEFAULT-VALUE}).")
    int maxBatchTokens;

    @Option(
            names = "--queue-delay-ms",
            description = "How long to wait for other requests' passes to fill a batch (default: ${DEFAULT-VALUE}).")
    long queueDelayMs;

    @Option(names = "--max-request-bytes", description = "Largest request message (default: ${DEFAULT-VALUE}).")
    int maxRequestBytes;

    @Option(names = "--max-pairs", description = "Prompt pairs per request (default: ${DEFAULT-VALUE}).")
    int maxPairs;

    @Option(names = "--max-tokens", description = "Tokens per prompt (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(
            names = "--max-text-chars",
            description = "Characters in one text to tokenize, checked before tokenizing (default: ${DEFAULT-VALUE}).")
    int maxTextChars;

    @Option(
            names = "--max-patched-runs",
            description = "Patched runs (nodes times pairs) one request may plan (default: ${DEFAULT-VALUE}).")
    long maxPatchedRuns;

    @Option(names = "--max-concurrent-requests", description = "Requests running at once (default: ${DEFAULT-VALUE}).")
    int maxConcurrentRequests;

    @Option(names = "--sweep-window", description = "Jobs of one sweep running at once (default: ${DEFAULT-VALUE}).")
    int sweepWindow;

    @Override
    public Integer call() throws Exception {
        ComputeContext compute = device.compute();
        // Which device --device chose (auto may have chosen either), before anything loads on it.
        System.err.println("patchbay: computing on " + compute.describe());
        Map<String, LoadedModel> loaded = new LinkedHashMap<>();
        for (Path dir : models == null || models.isEmpty() ? List.of(BundledModel.directory()) : models) {
            LoadedModel m = LoadedModel.load(dir, precision.dataType(), compute);
            if (loaded.putIfAbsent(m.name(), m) != null) {
                throw new IllegalArgumentException("--model: two models are named '" + m.name() + "'");
            }
        }
        for (String spec : dictionaries == null ? List.<String>of() : dictionaries) {
            DictionarySpec.parse(spec, loaded).addTo(loaded);
        }
        // Batches on a GPU are sized by its memory unless a budget was given (on the command line or in --config).
        long budget = memoryBudget == SchedulerConfig.defaultMemoryBudget()
                ? SchedulerConfig.defaultMemoryBudget(compute.device())
                : memoryBudget;
        TransportSecurity security = new TransportSecurity(tlsCert, tlsKey, tlsClientCa, authTokens);
        PatchbayServer server = PatchbayServer.start(
                host,
                port,
                healthPort,
                loaded,
                new SchedulerConfig(maxBatchRows, maxBatchTokens, Duration.ofMillis(queueDelayMs), cacheBytes, budget),
                new ServerLimits(
                        maxRequestBytes,
                        maxPairs,
                        maxTokens,
                        maxPatchedRuns,
                        maxConcurrentRequests,
                        sweepWindow,
                        maxTextChars),
                security);
        // Tests and scripts read this line to find a port chosen with --port 0.
        System.out.println("patchbay listening on " + host + ":" + server.port());
        MemoryPool pool = server.memoryPool();
        System.err.printf(
                "patchbay: memory budget %.1f GiB for the process (%d model%s): %.1f GiB set aside for the clean"
                        + " caches, %.1f GiB for what requests keep across batches (KV caches), %.1f GiB for the"
                        + " batches running at once%n",
                gib(pool.totalBytes()),
                loaded.size(),
                loaded.size() == 1 ? "" : "s",
                gib(pool.cacheBytes()),
                gib(pool.keptBytes()),
                gib(pool.passBytes()));
        if (server.healthPort() >= 0) {
            System.err.println("patchbay: health alone, plaintext, on " + host + ":" + server.healthPort());
        }
        System.err.println("patchbay: " + (security.tls() ? "TLS" : "plaintext")
                + (tlsClientCa != null ? ", client certificates required" : "")
                + (authTokens != null ? ", bearer tokens required" : ", no authentication"));
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.drain(Duration.ofSeconds(drainSeconds));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            loaded.values().forEach(LoadedModel::close);
        }));
        server.awaitTermination();
        return 0;
    }

    private static double gib(long bytes) {
        return bytes / (double) (1L << 30);
    }
}
