package dev.patchbay.execution;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process's resident memory, read from Linux's {@code /proc/self/status}: now (VmRSS) and the peak since
 * the last reset (VmHWM; writing 5 to {@code /proc/self/clear_refs} resets it). Native arrays live outside the
 * Java heap, so this, not the JVM's own counters, is what a pass costs the machine. For metrics, benchmarks and
 * the memory tests.
 */
public final class ResidentMemory {
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final Path CLEAR_REFS = Path.of("/proc/self/clear_refs");

    private ResidentMemory() {}

    /** Whether this platform reports it (Linux). */
    public static boolean supported() {
        return Files.isReadable(STATUS) && Files.isWritable(CLEAR_REFS);
    }

    /** Resident bytes now. */
    public static long currentBytes() {
        return field("VmRSS:");
    }

    /** Resident bytes now, or 0 where the platform does not say (for metrics, which must not fail). */
    public static long currentBytesOrZero() {
        try {
            return Files.isReadable(STATUS) ? currentBytes() : 0;
        } catch (RuntimeException e) {
            return 0;
        }
    }

    /** The highest resident memory since the last {@link #resetPeak()}. */
    public static long peakBytes() {
        return field("VmHWM:");
    }

    /** Makes the peak the current resident memory. */
    public static void resetPeak() {
        try {
            Files.writeString(CLEAR_REFS, "5");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot reset the peak resident memory", e);
        }
    }

    /** Runs {@code work} and returns the highest resident memory the process reached meanwhile. */
    public static long peakDuring(Runnable work) {
        resetPeak();
        work.run();
        return peakBytes();
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith(name)) {
                    String kib = line.substring(name.length()).trim().split("\\s+")[0];
                    return Long.parseLong(kib) * 1024;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + STATUS, e);
        }
        throw new IllegalStateException(STATUS + " has no " + name);
    }
}
