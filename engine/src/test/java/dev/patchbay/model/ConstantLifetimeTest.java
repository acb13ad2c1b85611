package dev.patchbay.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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

    /**
     * The same after the constant's scope is closed: a pass computes each layer in a scope of its own, closed
     * before the backward pass, and closing a DJL array made from Java data drops its buffer while autograd still
     * reads the tensor over it. Gradients through attention scores came out wrong about once in several test runs.
     */
    @Test
    void aConstantFactorSurvivesItsLayerScope() {
        for (int attempt = 0; attempt < 20; attempt++) {
            try (NDManager pass = NDManager.newBaseManager("PyTorch");
                    GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray x = pass.create(new double[] {1, 2, 3});
                x.setRequiresGradient(true);
                NDArray total;
                try (NDManager layer = pass.newSubManager()) {
                    NDArray y = Scalars.times(Scoped.view(layer, x), 0.125);
                    total = Scoped.view(pass, Scalars.plus(y, 1).sum());
                }
                reuseFreedNativeMemory();
                collector.backward(total);
                assertArrayEquals(
                        new double[] {0.125, 0.125, 0.125}, x.getGradient().toDoubleArray(), 0, "attempt " + attempt);
            }
        }
    }

    /**
     * A whole pass, with the garbage collector and fresh buffers between its forward and its backward pass: the
     * gradient at the embeddings equals the one computed without them. Reading only the metric's position
     * ({@code unembedOnly}) indexes the final layer's output with an array over Java data that autograd keeps;
     * made in the layer's scope, it was freed before the backward pass.
     */
    @Test
    void aPassKeepsWhatItsBackwardPassReads() {
        try (var loaded = dev.patchbay.TestCheckpoints.load("tiny-llama", ai.djl.ndarray.types.DataType.FLOAT64);
                NDManager scope = NDManager.newBaseManager("PyTorch")) {
            HookedTransformer model = loaded.transformer();
            int[] ids = dev.patchbay.TestCheckpoints.golden("tiny-llama").ids(2);
            TokenBatch batch = TokenBatch.of(ids);
            Hooks hooks = Hooks.builder()
                    .gradient(HookSites.EMBED)
                    .unembedOnly(ids.length - 1)
                    .build();
            java.util.function.Function<NDArray, NDArray> metric = logits -> logits.get(":, 0, 11");
            double[] expected = model.forwardWithGradients(scope, batch, hooks, metric)
                    .gradient(HookSites.EMBED)
                    .toDoubleArray();
            for (int attempt = 0; attempt < 5; attempt++) {
                try (NDManager pass = NDManager.newBaseManager("PyTorch");
                        GradientSession session = model.openGradientSession(pass, batch, hooks, metric)) {
                    reuseFreedNativeMemory();
                    session.backward();
                    assertArrayEquals(
                            expected,
                            session.result().gradient(HookSites.EMBED).toDoubleArray(),
                            1e-12,
                            "attempt " + attempt);
                }
            }
        }
    }

    /**
     * A constant is made once per device, type and value and then reused: on a GPU each one made is a copy from
     * the host that stalls the queue. Reuse must not change results, in either precision.
     */
    @Test
    void aConstantIsMadeOncePerTypeAndValue() {
        try (NDManager scope = NDManager.newBaseManager("PyTorch")) {
            double value = 0.3173; // a value no model here uses, so its first use below makes it
            NDArray x = scope.create(new double[] {1, 2});
            NDArray first = Scalars.times(x, value);
            int kept = Scalars.keptCount();
            for (int i = 0; i < 10; i++) {
                assertArrayEquals(first.toDoubleArray(), Scalars.times(x, value).toDoubleArray(), 0);
            }
            assertEquals(kept, Scalars.keptCount(), "the same constant again makes none");
            NDArray single = Scalars.times(x.toType(ai.djl.ndarray.types.DataType.FLOAT32, false), value);
            assertEquals(kept + 1, Scalars.keptCount(), "float32 has a constant of its own");
            assertEquals(ai.djl.ndarray.types.DataType.FLOAT32, single.getDataType());
            assertArrayEquals(new float[] {(float) value, (float) (2 * value)}, single.toFloatArray(), 1e-7f);
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
