package dev.patchbay.model.family;

import static dev.patchbay.model.Functional.activation;
import static dev.patchbay.model.Functional.linear;
import static dev.patchbay.model.Functional.norm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
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
 * A GPT-NeoX (Pythia) layer: rotary on a fraction of each head, and by default attention and MLP in parallel,
 * both reading the same residual stream: resid_post = resid_pre + attn_out + mlp_out.
 */
final class NeoXBlock implements TransformerBlock {
    private final ModelConfig config;
    private final int layer;
    private final Rotary rotary;
    private final NDArray ln1Weight, ln1Bias, ln2Weight, ln2Bias;
    private final NDArray wq, bq, wk, bk, wv, bv, wo, bo;
    private final NDArray wIn, bIn, wOut, bOut;

    private NeoXBlock(ModelConfig config, int layer, Weights w, String p) {
        this.config = config;
        this.layer = layer;
        this.rotary = new Rotary(config.rotaryDim(), config.layers().get(layer).rope());
        long d = config.dModel();
        long h = config.nHeads();
        long dh = config.dHead();
        long mlp = config.dMlp();
        ln1Weight = w.get(p + "input_layernorm.weight", d);
        ln1Bias = w.get(p + "input_layernorm.bias", d);
        ln2Weight = w.get(p + "post_attention_layernorm.weight", d);
        ln2Bias = w.get(p + "post_attention_layernorm.bias", d);
        // query_key_value is nn.Linear [out, in] whose outputs are grouped per head as [q | k | v].
        NDArray qkv = w.get(p + "attention.query_key_value.weight", 3 * d, d).reshape(h, 3, dh, d);
        wq = qkv.get(new NDIndex(":, 0")).reshape(h * dh, d).transpose();
        wk = qkv.get(new NDIndex(":, 1")).reshape(h * dh, d).transpose();
        wv = qkv.get(new NDIndex(":, 2")).reshape(h * dh, d).transpose();
        wo = w.get(p + "attention.dense.weight", d, h * dh).transpose();
        // attention_bias (default true) covers both attention projections, as in transformers' GPTNeoXAttention.
        if (config.attentionBias()) {
            NDArray qkvBias = w.get(p + "attention.query_key_value.bias", 3 * d).reshape(h, 3, dh);
            bq = qkvBias.get(new NDIndex(":, 0")).reshape(h * dh);
            bk = qkvBias.get(new NDIndex(":, 1")).reshape(h * dh);
            bv = qkvBias.get(new NDIndex(":, 2")).reshape(h * dh);
            bo = w.get(p + "attention.dense.bias", d);
        } else {
            bq = null;
            bk = null;
            bv = null;
            bo = null;
        }
        wIn = w.get(p + "mlp.dense_h_to_4h.weight", mlp, d).transpose();
        bIn = w.get(p + "mlp.dense_h_to_4h.bias", mlp);
        wOut = w.get(p + "mlp.dense_4h_to_h.weight", d, mlp).transpose();
        bOut = w.get(p + "mlp.dense_4h_to_h.bias", d);
    }

    static NeoXBlock load(ModelConfig config, int layer, Weights weights) {
        return new NeoXBlock(config, layer, weights, "gpt_neox.layers." + layer + ".");
    }

    @Override
    public NDArray forward(NDArray resid, HookContext ctx) {
        int heads = config.nHeads();
        UnaryOperator<NDArray> ln1 = r -> norm(config, r, ln1Weight, ln1Bias);
        NDArray x = ln1.apply(resid);
        NDArray q = ctx.apply(
                HookSites.attn(layer, "q"),
                SplitInputs.heads(ctx, HookSites.headInput(layer, "q"), resid, x, heads, ln1, wq, bq));
        NDArray k = ctx.apply(
                HookSites.attn(layer, "k"),
                SplitInputs.heads(ctx, HookSites.headInput(layer, "k"), resid, x, heads, ln1, wk, bk));
        NDArray v = ctx.apply(
                HookSites.attn(layer, "v"),
                SplitInputs.heads(ctx, HookSites.headInput(layer, "v"), resid, x, heads, ln1, wv, bv));
        NDArray[] tables = rotary.tables(ctx, q);
        NDArray rq = ctx.apply(HookSites.attn(layer, "rot_q"), rotary.apply(q, tables));
        NDArray rk = ctx.apply(HookSites.attn(layer, "rot_k"), rotary.apply(k, tables));
        NDArray z = Attention.attend(ctx, config, layer, rq, rk, v);
        ctx.headsWrote(z, wo);
        NDArray attnOut = ctx.apply(HookSites.attnOut(layer), linear(Attention.mergeHeads(z), wo, bo));

        NDArray mlpInput;
        NDArray afterAttn = null;
        if (config.parallelResidual()) {
            mlpInput = resid;
        } else {
            afterAttn = ctx.apply(HookSites.residMid(layer), resid.add(attnOut));
            mlpInput = afterAttn;
        }
        mlpInput = ctx.apply(HookSites.mlpIn(layer), mlpInput);
        NDArray pre =
                ctx.apply(HookSites.mlp(layer, "pre"), linear(norm(config, mlpInput, ln2Weight, ln2Bias), wIn, bIn));
        NDArray post = ctx.apply(HookSites.mlp(layer, "post"), activation(config.activation(), pre));
        NDArray mlpOut = ctx.apply(HookSites.mlpOut(layer), linear(post, wOut, bOut));
        return afterAttn == null ? resid.add(attnOut).add(mlpOut) : afterAttn.add(mlpOut);
    }

    @Override
    public NDArray headWriteChanges(NDArray cleanZ, NDArray noiseZ) {
        return Functional.headWrites(noiseZ.sub(cleanZ), wo);
    }
}
