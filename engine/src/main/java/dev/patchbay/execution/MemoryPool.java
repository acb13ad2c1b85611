package dev.patchbay.execution;

import dev.patchbay.passes.PassRunner;
import java.util.Locale;

/**
 * The process's memory budget, shared by every model a server serves. What the clean caches may hold is set aside
 * (they keep it between requests), and so is a sixteenth for what requests keep across their batches (a
 * generation's KV caches, reserved for the request's life and refused at once where they do not fit, never waited
 * for). The rest is for passes: planning sizes each batch to {@link #passBytes()} (any one batch fits alone), and at
 * run time every batch holds its estimate while it runs, so batches of several models running at once stay within
 * the budget together (a batch waits until the running ones leave it room). Batches wait only on batches, which
 * always finish, so no wait depends on a request that cannot go on. Thread-safe.
 */
public final class MemoryPool {
    /** The share of the budget set aside for what requests keep across batches. */
    public static final int KEPT_SHARE = 16;

    private final long total;
    private final long caches;
    private final long kept;
    /** Bytes held by batches running now. */
    private long running;
    /** Bytes reserved by requests for their whole life. */
    private long reserved;

    /**
     * @param total the process's budget (serve's --memory-budget)
     * @param caches what the models' clean caches may hold together, set aside from it
     */
    public MemoryPool(long total, long caches) {
        this(total, caches, total / KEPT_SHARE);
    }

    private MemoryPool(long total, long caches, long kept) {
        if (caches + kept >= total) {
            throw new IllegalArgumentException(String.format(
                    Locale.ROOT,
                    "--memory-budget: %.2f GB leaves nothing for passes beside the clean caches' %.2f GB"
                            + " (--cache-bytes) and the KV caches' sixteenth; raise the budget or lower --cache-bytes",
                    total / 1e9,
                    caches / 1e9));
        }
        this.total = total;
        this.caches = caches;
        this.kept = kept;
    }

    /** A pool for one model's device alone: {@code passBytes} for its batches, its cache outside. */
    public static MemoryPool ofPasses(long passBytes) {
        return new MemoryPool(passBytes + passBytes / (KEPT_SHARE - 1), 0, passBytes / (KEPT_SHARE - 1));
    }

    public long totalBytes() {
        return total;
    }

    /** What the clean caches may hold, set aside. */
    public long cacheBytes() {
        return caches;
    }

    /** What requests may keep across their batches, together. */
    public long keptBytes() {
        return kept;
    }

    /** What one batch may hold at its peak: the budget less the caches and what requests keep. */
    public long passBytes() {
        return total - caches - kept;
    }

    /** Bytes reserved now by running requests (for tests and metrics). */
    public synchronized long reservedBytes() {
        return reserved;
    }

    /** Waits until a batch of {@code bytes} fits beside the batches running now, and holds them. */
    synchronized long acquire(long bytes) throws InterruptedException {
        long held = Math.min(bytes, passBytes());
        while (running > 0 && running + held > passBytes()) {
            wait();
        }
        running += held;
        return held;
    }

    synchronized void release(long held) {
        running -= held;
        notifyAll();
    }

    /**
     * Reserves {@code bytes} for a request's life from the share set aside for what requests keep; refused at once
     * where the share does not hold it beside what other requests keep now. {@code stepBytes}, one of the request's
     * own batches, is sized by planning to the pass bytes.
     */
    synchronized PassRunner.Retained reserve(long bytes, long stepBytes) {
        if (reserved + bytes > kept || stepBytes > passBytes()) {
            throw new PassRunner.RetainedMemoryRefused(String.format(
                    Locale.ROOT,
                    "about %.2f GB kept for the request's life does not fit beside the %.2f GB other requests keep"
                            + " now (the server keeps %.2f GB, a sixteenth of its memory budget, for what requests"
                            + " keep across batches)",
                    bytes / 1e9,
                    reserved / 1e9,
                    kept / 1e9));
        }
        reserved += bytes;
        boolean[] released = {false};
        return () -> {
            synchronized (this) {
                if (!released[0]) {
                    released[0] = true;
                    reserved -= bytes;
                    notifyAll();
                }
            }
        };
    }
}
