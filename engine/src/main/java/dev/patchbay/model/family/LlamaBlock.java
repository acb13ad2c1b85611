package dev.patchbay.model.family;

import static dev.patchbay.model.Functional.activation;
import static dev.patchbay.model.Functional.linear;
import static dev.patchbay.model.Functional.norm;
import static dev.patchbay.model.Functional.rmsNorm;

import ai.djl.ndarray.NDArray;
import dev.patchbay.model.Attention;
import dev.patchbay.model.Functional;
import dev.patchbay.model.HookContext;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Rotary;
import dev.patchbay.model.SplitInputs;
import dev.patchbay.model.TransformerBlock;
import dev.patchbay.model.Weights;
import java.util.function.UnaryOperator;

/**
 * A Llama-shaped layer, shared by Llama, Mistral, Qwen 2 and 3 and Phi-3: RMSNorm before attention and before
 * the MLP, rotary, grouped-query attention (fewer key/value heads than query heads), and a gated MLP:
 * post = act(x W_gate) * (x W_up). What varies between them is in {@link Layout}; sliding windows and rotary
 * scaling are in the config's {@link dev.patchbay.model.LayerAttention}.
 */
final class LlamaBlock implements TransformerBlock {
    /**
     * @param qkvBias whether q, k and v projections have biases (Qwen 2 always, Llama by attention_bias)
     * @param outputBias whether the attention output projection has one (not Qwen 2's)
     * @param qkNorm whether each head's query and key are RMS-normalized before rotary (Qwen 3): sites
     *     hook_q_normed and hook_k_normed
     */
    record Layout(boolean qkvBias, boolean outputBias, boolean qkNorm) {}

    private final ModelConfig config;
    private final int layer;
    private final Rotary rotary;
    private final NDArray norm1, norm2, qNorm, kNorm;
    private final ProjectionWeights p;

    private LlamaBlock(ModelConfig config, int layer, Weights w, String prefix, Layout layout) {
        this.config = config;
        this.layer = layer;
        this.rotary = new Rotary(config.rotaryDim(), config.layers().get(layer).rope());
        long d = config.dModel();
        norm1 = w.get(prefix + "input_layernorm.weight", d);
        norm2 = w.get(prefix + "post_attention_layernorm.weight", d);
        qNorm = layout.qkNorm() ? w.get(prefix + "self_attn.q_norm.weight", config.dHead()) : null;
        kNorm = layout.qkNorm() ? w.get(prefix + "self_attn.k_norm.weight", config.dHead()) : null;
        p = ProjectionWeights.load(config, w, prefix, layout.qkvBias(), layout.outputBias(), config.mlpBias());
    }

    static LlamaBlock load(ModelConfig config, int layer, Weights weights, Layout layout) {
        return new LlamaBlock(config, layer, weights, "model.layers." + layer + ".", layout);
    }

    @Override
    public NDArray forward(NDArray resid, HookContext ctx) {
        UnaryOperator<NDArray> inputNorm = r -> norm(config, r, norm1, null);
        NDArray x = inputNorm.apply(resid);
        int heads = config.nHeads();
        int kvHeads = config.nKvHeads();
        NDArray q = ctx.apply(
                HookSites.attn(layer, "q"),
                SplitInputs.heads(ctx, HookSites.headInput(layer, "q"), resid, x, heads, inputNorm, p.wq(), p.bq()));
        NDArray k = ctx.apply(
                HookSites.attn(layer, "k"),
                SplitInputs.heads(ctx, HookSites.headInput(layer, "k"), resid, x, kvHeads, inputNorm, p.wk(), p.bk()));
        NDArray v = ctx.apply(
                HookSites.attn(layer, "v"),
                SplitInputs.heads(ctx, HookSites.headInput(layer, "v"), resid, x, kvHeads, inputNorm, p.wv(), p.bv()));
        if (qNorm != null) {
            q = ctx.apply(HookSites.attn(layer, "q_normed"), rmsNorm(q, qNorm, config.normEps()));
            k = ctx.apply(HookSites.attn(layer, "k_normed"), rmsNorm(k, kNorm, config.normEps()));
        }
        NDArray[] tables = rotary.tables(ctx, q);
        NDArray rq = ctx.apply(HookSites.attn(layer, "rot_q"), rotary.apply(q, tables));
        NDArray rk = ctx.apply(HookSites.attn(layer, "rot_k"), rotary.apply(k, tables));
        NDArray z = Attention.attend(ctx, config, layer, rq, rk, v);
        ctx.headsWrote(z, p.wo());
        NDArray attnOut = ctx.apply(HookSites.attnOut(layer), linear(Attention.mergeHeads(z), p.wo(), p.bo()));
        NDArray mid = ctx.apply(HookSites.residMid(layer), resid.add(attnOut));

        NDArray y = norm(config, ctx.apply(HookSites.mlpIn(layer), mid), norm2, null);
        NDArray pre = ctx.apply(HookSites.mlp(layer, "pre"), linear(y, p.wGate(), p.bGate()));
        NDArray preLinear = ctx.apply(HookSites.mlp(layer, "pre_linear"), linear(y, p.wUp(), p.bUp()));
        NDArray post = ctx.apply(
                HookSites.mlp(layer, "post"),
                activation(config.activation(), pre).mul(preLinear));
        NDArray mlpOut = ctx.apply(HookSites.mlpOut(layer), linear(post, p.wDown(), p.bDown()));
        return mid.add(mlpOut);
    }

    @Override
    public NDArray headWriteChanges(NDArray cleanZ, NDArray noiseZ) {
        return Functional.headWrites(noiseZ.sub(cleanZ), p.wo());
    }
}
