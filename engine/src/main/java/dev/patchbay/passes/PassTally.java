package dev.patchbay.passes;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * What one request's passes did that its summary reports: clean runs (clean forwards, clean sides of AtP pairs)
 * served from the cache or computed, and batches shared with other requests. Counted by the runner for every pass
 * (sharing) and by each pass for its own result ({@link Pass#count}).
 */
public final class PassTally {
    private final AtomicInteger cacheHits = new AtomicInteger();
    private final AtomicInteger cacheMisses = new AtomicInteger();
    private final AtomicInteger sharedBatches = new AtomicInteger();

    /** {@code count} clean runs served from the cache. */
    public void hits(int count) {
        cacheHits.addAndGet(count);
    }

    /** {@code count} clean runs computed where a cache could have served them. */
    public void misses(int count) {
        cacheMisses.addAndGet(count);
    }

    /** One pass ran in a batch with other requests' passes. */
    public void shared() {
        sharedBatches.incrementAndGet();
    }

    public int cacheHits() {
        return cacheHits.get();
    }

    public int cacheMisses() {
        return cacheMisses.get();
    }

    public int sharedBatches() {
        return sharedBatches.get();
    }
}
