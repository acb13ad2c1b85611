package dev.patchbay.model;

import ai.djl.ndarray.NDArray;

/**
 * Arithmetic with a constant, safe under autograd. DJL's mul(Number) and kin multiply by a temporary tensor
 * over a Java buffer and free it at once, yet autograd keeps that tensor for the backward pass, which then
 * reads freed memory: gradients below the op turned NaN in about one backward pass in a hundred. The constant
 * made here owns native memory (see {@link #constant}), so it lives as long as the graph needs it, whatever
 * scope x belongs to. ArchitectureTest bans DJL's scalar overloads in the engine.
 */
public final class Scalars {
    private Scalars() {}

    /** x times c, in x's type and scope. */
    public static NDArray times(NDArray x, double c) {
        return x.mul(constant(x, c));
    }

    /** x plus c, in x's type and scope. */
    public static NDArray plus(NDArray x, double c) {
        return x.add(constant(x, c));
    }

    /**
     * The constant as a tensor that owns its memory. On the CPU, DJL makes an array from Java data as a tensor over
     * a Java buffer that only the DJL array keeps alive; a layer's scope closes that array when the layer is done,
     * yet autograd reads the tensor in the backward pass, after the garbage collector may have freed the buffer
     * (gradients came out as 6.9e-310 instead of 0.125: ConstantLifetimeTest). A clone owns native memory of its
     * own; the array over the Java buffer is closed at once.
     */
    private static NDArray constant(NDArray x, double c) {
        try (NDArray overJavaMemory = x.getManager().create(c)) {
            NDArray typed = overJavaMemory.toType(x.getDataType(), false);
            return typed == overJavaMemory ? typed.duplicate() : typed;
        }
    }
}
