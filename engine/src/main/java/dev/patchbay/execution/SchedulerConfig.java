package dev.patchbay.execution;

import java.lang.management.ManagementFactory;
import java.time.Duration;

/**
 * How the device worker batches passes.
 *
 * @param maxBatchRows rows (pairs, or patched runs) in one batched pass
 * @param maxBatchTokens rows times padded length in one batched pass
 * @param queueDelay how long the worker waits for other requests' compatible passes before running a batch
 *     that is not full (as Triton's dynamic batcher does); zero runs at once
 * @param cacheBytes the clean-activation cache's budget, in bytes of native memory
 * @param memoryBudget native bytes at the peak, as estimated by {@link dev.patchbay.passes.PassMemory}: in a server,
 *     the whole process's, shared by every model ({@link MemoryPool}: the clean caches and a share for KV caches set
 *     aside, the rest for the batches running at once); for a device alone, what one batch may hold. Batches are
 *     sized to fit, and a request whose single row does not fit is refused
 */
public record SchedulerConfig(
        int maxBatchRows, int maxBatchTokens, Duration queueDelay, long cacheBytes, long memoryBudget) {
    public SchedulerConfig {
        if (maxBatchRows < 1 || maxBatchTokens < 1 || queueDelay.isNegative() || cacheBytes < 0) {
            throw new IllegalArgumentException("batch limits must be positive and the queue delay not negative");
        }
        if (memoryBudget < 1) {
            throw new IllegalArgumentException("the memory budget must be positive, got " + memoryBudget);
        }
    }

    /** With the default memory budget. */
    public SchedulerConfig(int maxBatchRows, int maxBatchTokens, Duration queueDelay, long cacheBytes) {
        this(maxBatchRows, maxBatchTokens, queueDelay, cacheBytes, defaultMemoryBudget());
    }

    /** Rows in one batched pass unless configured: the server's and the command line's. */
    public static final int DEFAULT_BATCH_ROWS = 32;

    public static SchedulerConfig defaults() {
        return new SchedulerConfig(DEFAULT_BATCH_ROWS, 8192, Duration.ofMillis(2), 1L << 30, defaultMemoryBudget());
    }

    /**
     * Half of the machine's physical memory (8 GiB where the JVM cannot tell): the other half is for the
     * weights, the JVM and everything else on the machine.
     */
    /**
     * The default budget for a model on {@code device}: on a GPU, half of its memory as CUDA reports it (the other
     * half holds the weights, the cache and libtorch's allocator slack), else {@link #defaultMemoryBudget()}. A GPU
     * whose memory cannot be read (no CUDA runtime for JNA) gets the host's default, which the server logs.
     */
    public static long defaultMemoryBudget(ai.djl.Device device) {
        if (device.isGpu()) {
            try {
                long total = ai.djl.util.cuda.CudaUtils.getGpuMemory(device).getMax();
                if (total > 0) {
                    return total / 2;
                }
            } catch (RuntimeException | LinkageError e) {
                // Fall through to the host's default.
            }
        }
        return defaultMemoryBudget();
    }

    public static long defaultMemoryBudget() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            long total = os.getTotalMemorySize();
            if (total > 0) {
                return total / 2;
            }
        }
        return 8L << 30;
    }
}
