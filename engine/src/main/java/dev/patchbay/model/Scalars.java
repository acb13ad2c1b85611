package dev.patchbay.model;

import ai.djl.ndarray.NDArray;

/**
 * Arithmetic with a constant, safe under autograd. DJL's mul(Number) and kin multiply by a temporary tensor
 * over a Java buffer and free it at once, yet autograd keeps that tensor for the backward pass, which then
 * reads freed memory: gradients below the op turned NaN in about one backward pass in a hundred. The constant
 * made here belongs to x's manager (the pass's scope), so it lives as long as the graph. ArchitectureTest
 * bans DJL's scalar overloads in the engine.
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

    private static NDArray constant(NDArray x, double c) {
        return x.getManager().create(c).toType(x.getDataType(), false);
    }
}
