package dev.patchbay.research.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process's resident memory, read from Linux's {@code /proc/self/status}: now (VmRSS) and the peak since
 * the last reset (VmHWM; writing 5 to {@code /proc/self/clear_refs} resets it). Native arrays live outside the
 * Java heap, so this, not the JVM's own counters, is what a method costs the machine.
 */
final class PeakResident {
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final Path CLEAR_REFS = Path.of("/proc/self/clear_refs");

    private PeakResident() {}

    static boolean supported() {
        return Files.isReadable(STATUS) && Files.isWritable(CLEAR_REFS);
    }

    static long currentBytes() {
        return field("VmRSS:");
    }

    /** Runs {@code work} and returns the highest resident memory the process reached meanwhile. */
    static long peakDuring(Runnable work) {
        try {
            Files.writeString(CLEAR_REFS, "5");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot reset the peak resident memory", e);
        }
        work.run();
        return field("VmHWM:");
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
