package dev.patchbay.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.Set;

/**
 * The compute precisions and where half precision widens. float32 is the default and the reference; float64 is
 * for precise checks; float16 and bfloat16 halve memory and, on a GPU, time, at a measured cost in accuracy
 * (README). In half precision the weights and activations are half, but what accumulates over many terms or
 * decides a ranking is computed in float32, as transformers does: the norms, the attention softmax and the
 * metric (the QK fix is float64 in every precision).
 */
public final class Precision {
    /** The types a model may compute in. */
    public static final Set<DataType> SUPPORTED =
            Set.of(DataType.FLOAT32, DataType.FLOAT64, DataType.FLOAT16, DataType.BFLOAT16);

    private Precision() {}

    /**
     * Refuses a precision the device cannot compute in: bfloat16 on the CPU, where DJL 0.35's PyTorch engine aborts
     * the whole process on bfloat16 arrays (checked before any is made), and anything but the four floats.
     *
     * @throws IllegalArgumentException naming the precision and what to use instead
     */
    public static void check(DataType type, Device device) {
        if (!SUPPORTED.contains(type)) {
            throw new IllegalArgumentException(
                    "unsupported compute precision " + type + "; use float32, float64, float16 or bfloat16 (GPU only)");
        }
        if (type == DataType.BFLOAT16 && !device.isGpu()) {
            throw new IllegalArgumentException("bfloat16 runs only on a GPU (DJL's CPU engine aborts on bfloat16"
                    + " arrays); on " + device + " use fp16, fp32 or fp64");
        }
    }

    /** Whether {@code type} is float16 or bfloat16. */
    public static boolean isHalf(DataType type) {
        return type == DataType.FLOAT16 || type == DataType.BFLOAT16;
    }

    /** x in float32 where it is half, else x itself: for the reductions that must not be half. Differentiable. */
    public static NDArray widened(NDArray x) {
        return isHalf(x.getDataType()) ? cast(x, DataType.FLOAT32) : x;
    }

    /** x back in {@code type} after a widened computation. Differentiable. */
    static NDArray narrowed(NDArray x, DataType type) {
        return x.getDataType() == type ? x : cast(x, type);
    }

    /**
     * x converted to {@code type}, recorded by autograd. DJL's toType converts under a no-grad guard, which cuts the
     * graph (a gradient pass then fails: "element 0 of tensors does not require grad"); a cumulative product over a
     * new axis of length one is the identity, and libtorch's cumprod takes the result's dtype, converting as part of
     * the graph.
     */
    static NDArray cast(NDArray x, DataType type) {
        return x.expandDims(-1).cumProd(-1, type).squeeze(-1);
    }
}
