package dev.patchbay.model;

import static dev.patchbay.model.Scalars.plus;
import static dev.patchbay.model.Scalars.times;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Set;

/**
 * The few stateless ops the blocks share, matching Hugging Face's definitions (to float round-off where an op is
 * written in fewer kernels).
 */
public final class Functional {
    private static final double SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);

    /** The MLP nonlinearities {@link #activation} computes, by their Hugging Face names. */
    static final Set<String> ACTIVATIONS = Set.of("gelu_new", "gelu_pytorch_tanh", "gelu", "silu", "relu", "linear");

    private Functional() {}

    /** x W + b, with W stored [in, out]. The activation is the left operand so results live in its scope. */
    public static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        NDArray y = x.matMul(weight);
        return bias == null ? y : y.add(bias);
    }

    /** The block's normalization: LayerNorm (with bias), RMSNorm (bias null), or none for toy models. */
    public static NDArray norm(ModelConfig config, NDArray x, NDArray weight, NDArray bias) {
        return switch (config.normalization()) {
            case LAYER_NORM -> layerNorm(x, weight, bias, config.normEps());
            case RMS_NORM -> rmsNorm(x, weight, config.normEps());
            case NONE -> x;
        };
    }

    /**
     * In half precision a norm's mean and variance are taken in float32 (as transformers does), then cast back.
     *
     * <p>LayerNorm as libtorch's one fused op, not nine separate ones: a smaller autograd graph and about a tenth
     * of a small model's forward saved. Called through DJL's JNI binding, which passes eps on as a double as libtorch
     * takes it: DJL's public {@code LayerNorm.layerNorm} takes a float, and 1e-5 rounded to a float (2.5e-13 short
     * of it) moved float64 logits by about 1e-11 against transformers (issue 36); now they agree to round-off.
     */
    public static NDArray layerNorm(NDArray x, NDArray weight, NDArray bias, double eps) {
        Shape last = new Shape(x.getShape().get(x.getShape().dimension() - 1));
        DataType type = x.getDataType();
        NDArray wide = Precision.widened(x);
        NDArray shift =
                bias != null ? Precision.widened(bias) : wide.getManager().zeros(last, wide.getDataType());
        NDArray normalized = JniUtils.layerNorm(
                (PtNDArray) wide, last, (PtNDArray) Precision.widened(weight), (PtNDArray) shift, eps);
        return Precision.narrowed(normalized, type);
    }

    public static NDArray rmsNorm(NDArray x, NDArray weight, double eps) {
        DataType type = x.getDataType();
        NDArray wide = Precision.widened(x);
        NDArray meanSquare = wide.square().mean(new int[] {-1}, true);
        return Precision.narrowed(wide.div(plus(meanSquare, eps).sqrt()).mul(Precision.widened(weight)), type);
    }

    /** c tanh(x / c): Gemma 2's soft-capping of attention scores and of final logits; x itself for c = 0. */
    public static NDArray softcap(NDArray x, double c) {
        return c == 0 ? x : times(times(x, 1 / c).tanh(), c);
    }

    /** The MLP nonlinearity by its Hugging Face name (checked when the config is read). */
    public static NDArray activation(String name, NDArray x) {
        return switch (name) {
            // GPT-2's tanh approximation, 0.5 x (1 + tanh(u)) with u = sqrt(2 / pi) (x + 0.044715 x^3), written as
            // x sigmoid(2u), the same function in seven ops instead of nine. DJL's gelu is the exact erf form.
            case "gelu_new", "gelu_pytorch_tanh" ->
                x.mul(Activation.sigmoid(times(
                        plus(times(x.mul(x), 0.044715), 1).mul(x), 2 * SQRT_2_OVER_PI)));
            case "gelu" -> Activation.gelu(x);
            case "silu" -> x.mul(Activation.sigmoid(x));
            case "relu" -> Activation.relu(x);
            case "linear" -> x;
            default -> throw new IllegalArgumentException("unknown activation " + name);
        };
    }

    /**
     * Each head's own write [B, T, H, d_model] for a change {@code dz} [B, T, H, d_head] of its output, through the
     * output projection {@code wo} [H * d_head, d_model]: dz_h W_O[h] (the bias is no head's).
     */
    public static NDArray headWrites(NDArray dz, NDArray wo) {
        Shape s = dz.getShape();
        long heads = s.get(2);
        NDArray perHead = Scoped.view(dz.getManager(), wo)
                .reshape(heads, s.get(3), wo.getShape().get(1)); // [H, d_head, d_model], owned with dz
        return dz.transpose(0, 2, 1, 3).matMul(perHead).transpose(0, 2, 1, 3);
    }
}
