package dev.patchbay.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Arithmetic with a constant, safe under autograd. DJL's mul(Number) and kin multiply by a temporary tensor
 * over a Java buffer and free it at once, yet autograd keeps that tensor for the backward pass, which then
 * reads freed memory: gradients below the op turned NaN in about one backward pass in a hundred. The constant
 * used here owns native memory (see {@link #constant}), so it lives as long as the graph needs it, whatever
 * scope x belongs to. ArchitectureTest bans DJL's scalar overloads in the engine.
 *
 * <p>Each constant is made once per device, type and value and kept for the life of the process: making it is
 * a copy from the host, which on a GPU waits for every kernel queued before it (a GPT-2 forward made 60 of them,
 * five a layer, each stalling the GPU until the host caught up). The values are the models' own (scales,
 * epsilons, the GELU's coefficients) and the methods' small ratios, so they are few; past {@link #KEPT} distinct
 * ones a constant is made per use as before rather than kept.
 */
public final class Scalars {
    /** How many distinct constants are kept at most (a few hundred bytes of device memory each at most). */
    static final int KEPT = 4096;

    private record Key(Device device, DataType type, double value) {}

    private static final Map<Key, NDArray> KEPT_CONSTANTS = new ConcurrentHashMap<>();

    /** Owners of the kept constants, one per device; never closed (the process's lifetime). */
    private static final Map<Device, NDManager> OWNERS = new ConcurrentHashMap<>();

    private Scalars() {}

    /** x times c, in x's type and scope. */
    public static NDArray times(NDArray x, double c) {
        return x.mul(constant(x, c));
    }

    /** x plus c, in x's type and scope. */
    public static NDArray plus(NDArray x, double c) {
        return x.add(constant(x, c));
    }

    /** How many constants are kept (for tests). */
    static int keptCount() {
        return KEPT_CONSTANTS.size();
    }

    /** c as a scalar tensor of x's device and type, kept for reuse (see the class comment). */
    private static NDArray constant(NDArray x, double c) {
        Key key = new Key(x.getDevice(), x.getDataType(), c);
        NDArray kept = KEPT_CONSTANTS.get(key);
        if (kept != null) {
            return kept;
        }
        if (KEPT_CONSTANTS.size() >= KEPT) {
            return owned(x.getManager(), x.getDataType(), c);
        }
        return KEPT_CONSTANTS.computeIfAbsent(key, k -> {
            // On x's own device (x's engine makes it), as every scope is.
            NDManager owner = OWNERS.computeIfAbsent(
                    k.device(), d -> x.getManager().getEngine().newBaseManager(d));
            return owned(owner, k.type(), k.value());
        });
    }

    /**
     * The constant as a tensor that owns its memory. On the CPU, DJL makes an array from Java data as a tensor over
     * a Java buffer that only the DJL array keeps alive; a layer's scope closes that array when the layer is done,
     * yet autograd reads the tensor in the backward pass, after the garbage collector may have freed the buffer
     * (gradients came out as 6.9e-310 instead of 0.125: ConstantLifetimeTest). A clone owns native memory of its
     * own; the array over the Java buffer is closed at once.
     */
    private static NDArray owned(NDManager manager, DataType type, double c) {
        try (NDArray overJavaMemory = manager.create(c)) {
            NDArray typed = overJavaMemory.toType(type, false);
            return typed == overJavaMemory ? typed.duplicate() : typed;
        }
    }
}
