package dev.patchbay.model.family;

import ai.djl.ndarray.NDArray;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Weights;

/**
 * The attention and gated-MLP projections that the Llama-style layouts name alike ({@code self_attn.q_proj},
 * {@code mlp.gate_proj}, ...), as [in, out] views (nn.Linear stores [out, in]; the runtime multiplies activations
 * on the left), with biases where the family has them and null elsewhere. {@link LlamaBlock}, {@link GemmaBlock}
 * and {@link Olmo2Block} read them here instead of each spelling the names out; {@link LlamaLayout} puts such
 * blocks into a model.
 */
record ProjectionWeights(
        NDArray wq,
        NDArray bq,
        NDArray wk,
        NDArray bk,
        NDArray wv,
        NDArray bv,
        NDArray wo,
        NDArray bo,
        NDArray wGate,
        NDArray bGate,
        NDArray wUp,
        NDArray bUp,
        NDArray wDown,
        NDArray bDown) {

    /**
     * @param p the layer's prefix, e.g. {@code model.layers.3.}
     * @param qkvBias whether q, k and v have biases
     * @param outputBias whether the attention output projection has one
     * @param mlpBias whether the MLP projections have them
     */
    static ProjectionWeights load(
            ModelConfig config, Weights w, String p, boolean qkvBias, boolean outputBias, boolean mlpBias) {
        long d = config.dModel();
        long q = (long) config.nHeads() * config.dHead();
        long kv = (long) config.nKvHeads() * config.dHead();
        long mlp = config.dMlp();
        return new ProjectionWeights(
                w.get(p + "self_attn.q_proj.weight", q, d).transpose(),
                qkvBias ? w.get(p + "self_attn.q_proj.bias", q) : null,
                w.get(p + "self_attn.k_proj.weight", kv, d).transpose(),
                qkvBias ? w.get(p + "self_attn.k_proj.bias", kv) : null,
                w.get(p + "self_attn.v_proj.weight", kv, d).transpose(),
                qkvBias ? w.get(p + "self_attn.v_proj.bias", kv) : null,
                w.get(p + "self_attn.o_proj.weight", d, q).transpose(),
                outputBias ? w.get(p + "self_attn.o_proj.bias", d) : null,
                w.get(p + "mlp.gate_proj.weight", mlp, d).transpose(),
                mlpBias ? w.get(p + "mlp.gate_proj.bias", mlp) : null,
                w.get(p + "mlp.up_proj.weight", mlp, d).transpose(),
                mlpBias ? w.get(p + "mlp.up_proj.bias", mlp) : null,
                w.get(p + "mlp.down_proj.weight", d, mlp).transpose(),
                mlpBias ? w.get(p + "mlp.down_proj.bias", d) : null);
    }
}
