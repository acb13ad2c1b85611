package dev.patchbay;

import dev.patchbay.execution.ResidentMemory;
import java.lang.management.ManagementFactory;

/**
 * The native memory a piece of work held at its peak: the peak resident memory above the start, less what the JVM's
 * heap grew by meanwhile (a test JVM's heap grows with garbage, which is not what a memory model estimates).
 */
public final class NativePeak {
    private NativePeak() {}

    public static long during(Runnable work) {
        long heapBefore = committedHeap();
        long before = ResidentMemory.currentBytes();
        long peak = ResidentMemory.peakDuring(work);
        return peak - before - Math.max(0, committedHeap() - heapBefore);
    }

    private static long committedHeap() {
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
    }
}
