package dev.patchbay.execution;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gives native memory that libtorch freed back to the system. glibc keeps freed blocks in its arenas (one per
 * thread that allocated, up to 8 per core) and returns the top of the heap only, so a server's resident memory
 * rose over a day's use (4.9 GB after one sweep, 7.4-7.9 GB after eight clients) and looked like a leak.
 * {@code malloc_trim(0)} returns every arena's free pages (madvise), keeping what is in use. A daemon thread calls it
 * once a second while batches run and once after a quiet second, off the devices' threads: a few milliseconds where there
 * is much to return, microseconds where there is not. Chosen over preloading jemalloc or mimalloc: no library to
 * ship in the images or install on a researcher's machine, and the same mechanism wherever glibc runs; a no-op where
 * it does not.
 */
public final class NativeMemory {
    private static final Logger log = LoggerFactory.getLogger(NativeMemory.class);
    private static final long INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final GlibcMalloc GLIBC = load();

    private NativeMemory() {}

    /** glibc's allocator's entry point. */
    private interface GlibcMalloc extends Library {
        int malloc_trim(long pad);
    }

    private static GlibcMalloc load() {
        // -Dpatchbay.mallocTrim=false keeps glibc's own behaviour (to measure what trimming changes).
        if (!Boolean.parseBoolean(System.getProperty("patchbay.mallocTrim", "true"))
                || !System.getProperty("os.name", "")
                        .toLowerCase(java.util.Locale.ROOT)
                        .contains("linux")) {
            return null;
        }
        try {
            return Native.load("c", GlibcMalloc.class);
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            log.info("freed native memory is not returned to the system: no glibc malloc_trim ({})", e.toString());
            return null;
        }
    }

    /** Whether freed memory can be returned here (Linux with glibc). */
    public static boolean trims() {
        return GLIBC != null;
    }

    /** Returns freed native memory to the system now. */
    public static void trim() {
        if (GLIBC != null) {
            GLIBC.malloc_trim(0);
        }
    }

    /** Batches run so far. */
    private static final AtomicLong batches = new AtomicLong();

    /** The batch count the last trim came after, and whether the trimmer has stopped; guarded by the class. */
    private static long trimmedThrough;

    private static boolean trimmerStopped;

    /**
     * Waits until freed memory has been returned once the batches run so far were followed by a quiet second (a gate
     * for measurements). Returns false at once where nothing is trimmed, or after
     * {@code timeout}.
     */
    public static boolean awaitTrimmed(Duration timeout) throws InterruptedException {
        long target = batches.get();
        long end = System.nanoTime() + timeout.toNanos();
        synchronized (NativeMemory.class) {
            while (GLIBC != null && !trimmerStopped && target > 0 && trimmedThrough < target) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(NativeMemory.class, left);
            }
            return GLIBC != null && !trimmerStopped;
        }
    }

    private static synchronized void trimmed(long through) {
        trimmedThrough = through;
        NativeMemory.class.notifyAll();
    }

    private static synchronized void stopped() {
        trimmerStopped = true;
        NativeMemory.class.notifyAll();
    }

    /** Tells the trimmer a batch ran (so there may be freed memory to return); starts it the first time. */
    static void batchRan() {
        if (batches.getAndIncrement() == 0 && GLIBC != null) {
            Trimmer.start();
        }
    }

    /**
     * The daemon that returns freed memory once a second while batches run, and once more after a quiet second
     * (what requests freed after their last batch).
     */
    private static final class Trimmer {
        private static final AtomicLong started = new AtomicLong();

        static void start() {
            if (!started.compareAndSet(0, 1)) {
                return;
            }
            Thread t = new Thread(Trimmer::run, "patchbay-malloc-trim");
            t.setDaemon(true);
            t.start();
        }

        private static void run() {
            long seen = 0;
            boolean settled = true;
            try {
                while (true) {
                    TimeUnit.NANOSECONDS.sleep(INTERVAL_NANOS);
                    long now = batches.get();
                    if (now != seen) {
                        seen = now;
                        settled = false;
                        trim();
                    } else if (!settled) {
                        // A quiet second after the last batch: what requests freed after it goes back too.
                        settled = true;
                        trim();
                        trimmed(now);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (UnsatisfiedLinkError e) {
                // A libc without malloc_trim (musl): JNA binds at the first call. Memory stays as the allocator keeps
                // it.
                log.info("freed native memory is not returned to the system: {}", e.toString());
                stopped();
            }
        }
    }
}
