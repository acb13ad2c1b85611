package dev.patchbay.server.config;

import dev.patchbay.execution.SchedulerConfig;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Everything {@code serve} can be told, with the one set of defaults: the port, how the device batches
 * ({@link SchedulerConfig}), and what one request may ask for ({@link ServerLimits}). The command line and its
 * properties file take their defaults from {@link #flagDefaults()}, so no default is written twice.
 */
public record ServerConfig(
        String host, int port, int healthPort, SchedulerConfig scheduler, ServerLimits limits, int drainSeconds) {
    /** Loopback: nobody else on the network reaches the server unless its owner says so ("0.0.0.0"). */
    public static final String DEFAULT_HOST = "127.0.0.1";

    /** No plaintext health-only port (the --health-port default). */
    public static final int NO_HEALTH_PORT = -1;

    /** The port Patchbay listens on unless told otherwise. */
    public static final int DEFAULT_PORT = 50051;

    /**
     * How long a stopping server lets running requests finish before it fails them with UNAVAILABLE: long
     * enough for an ordinary AtP request, shorter than Kubernetes' default grace period of 30 s.
     */
    public static final int DEFAULT_DRAIN_SECONDS = 20;

    public static ServerConfig defaults() {
        return new ServerConfig(
                DEFAULT_HOST,
                DEFAULT_PORT,
                NO_HEALTH_PORT,
                SchedulerConfig.defaults(),
                ServerLimits.defaults(),
                DEFAULT_DRAIN_SECONDS);
    }

    /** Each serve flag's default, by the flag's name without dashes (also the properties-file key). */
    public static Map<String, String> flagDefaults() {
        ServerConfig d = defaults();
        Map<String, String> flags = new LinkedHashMap<>();
        flags.put("host", d.host());
        flags.put("port", String.valueOf(d.port()));
        flags.put("health-port", String.valueOf(d.healthPort()));
        flags.put("drain-seconds", String.valueOf(d.drainSeconds()));
        flags.put("cache-bytes", String.valueOf(d.scheduler().cacheBytes()));
        flags.put("memory-budget", String.valueOf(d.scheduler().memoryBudget()));
        flags.put("max-batch-rows", String.valueOf(d.scheduler().maxBatchRows()));
        flags.put("max-batch-tokens", String.valueOf(d.scheduler().maxBatchTokens()));
        flags.put("queue-delay-ms", String.valueOf(d.scheduler().queueDelay().toMillis()));
        flags.put("max-request-bytes", String.valueOf(d.limits().maxRequestBytes()));
        flags.put("max-pairs", String.valueOf(d.limits().maxPairs()));
        flags.put("max-tokens", String.valueOf(d.limits().maxTokens()));
        flags.put("max-patched-runs", String.valueOf(d.limits().maxPatchedRuns()));
        flags.put("max-concurrent-requests", String.valueOf(d.limits().maxConcurrentJobs()));
        flags.put("sweep-window", String.valueOf(d.limits().sweepWindow()));
        flags.put("max-text-chars", String.valueOf(d.limits().maxTextChars()));
        return flags;
    }
}
