package dev.patchbay.execution;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** After a batch, the trimmer returns freed native memory; the gate the soak test measures behind opens. */
class NativeMemoryTrimTest {
    @Test
    void theTrimmerRunsAfterTheLastBatch() throws InterruptedException {
        Assumptions.assumeTrue(NativeMemory.trims(), "needs glibc's malloc_trim");
        NativeMemory.batchRan();
        assertTrue(NativeMemory.awaitTrimmed(Duration.ofMinutes(1)), "no trim after the batch");
    }
}
