package dev.patchbay.execution;

import java.time.Duration;

/**
 * How the device worker batches passes.
 *
 * @param maxBatchRows rows (pairs, or patched runs) in one batched pass
 * @param maxBatchTokens rows times padded length in one batched pass
 * @param queueDelay how long the worker waits for other requests' compatible passes before running a batch
 *     that is not full (as Triton's dynamic batcher does); zero runs at once
 * @param cacheBytes the clean-activation cache's budget, in bytes of native memory
 */
public record SchedulerConfig(int maxBatchRows, int maxBatchTokens, Duration queueDelay, long cacheBytes) {
    public SchedulerConfig {
        if (maxBatchRows < 1 || maxBatchTokens < 1 || queueDelay.isNegative() || cacheBytes < 0) {
            throw new IllegalArgumentException("batch limits must be positive and the queue delay not negative");
        }
    }

    public static SchedulerConfig defaults() {
        return new SchedulerConfig(32, 8192, Duration.ofMillis(2), 1L << 30);
    }
}
