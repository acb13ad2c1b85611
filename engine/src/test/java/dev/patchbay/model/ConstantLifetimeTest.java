package dev.patchbay.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Autograd keeps the constant of x * c for the backward pass. DJL's mul(Number) makes that constant over a Java
 * buffer it releases at once, so once the garbage collector frees the buffer and the memory is reused, the
 * gradient is garbage: AtP estimates of whole layers came out NaN about once in a hundred passes.
 */
class ConstantLifetimeTest {
    @Test
    void aConstantFactorSurvivesUntilTheBackwardPass() {
        for (int attempt = 0; attempt < 20; attempt++) {
            try (NDManager scope = NDManager.newBaseManager("PyTorch");
                    GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray x = scope.create(new double[] {1, 2, 3});
                x.setRequiresGradient(true);
                NDArray y = Scalars.times(x, 0.125);
                reuseFreedNativeMemory();
                collector.backward(y.sum());
                assertArrayEquals(
                        new double[] {0.125, 0.125, 0.125}, x.getGradient().toDoubleArray(), 0, "attempt " + attempt);
            }
        }
    }

    /** Frees unreachable direct buffers, then fills small fresh ones (likely the freed memory) with NaN. */
    private static void reuseFreedNativeMemory() {
        System.gc();
        try {
            Thread.sleep(20); // the buffers' cleaner runs on its own thread
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        @SuppressWarnings("ModifiedButNotUsed") // kept alive so the freed memory is reused, never read
        List<ByteBuffer> keep = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            ByteBuffer b = ByteBuffer.allocateDirect(8);
            b.putDouble(0, Double.NaN);
            keep.add(b);
        }
    }
}
