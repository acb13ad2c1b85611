package dev.patchbay.model;

import static dev.patchbay.model.Functional.activation;
import static dev.patchbay.model.Functional.linear;
import static dev.patchbay.model.Functional.rmsNorm;

import ai.djl.ndarray.NDArray;

/**
 * An OLMo 2 layer: no norm before attention or the MLP; RMSNorm after each, on what it writes to the residual
 * stream (so hook_attn_out and hook_mlp_out are after it). Queries and keys are RMS-normalized over the whole
 * projection, all heads together, before they are split: hook_q and hook_k hold the normalized heads, so a
 * node patched there changes its own head only.
 */
final class Olmo2Block implements TransformerBlock {
    private final ModelConfig config;
    private final int layer;
    private final Rotary rotary;
    private final NDArray postAttentionNorm, postMlpNorm, qNorm, kNorm;
    private final NDArray wq, bq, wk, bk, wv, bv, wo, bo, wGate, wUp, wDown;

    Olmo2Block(ModelConfig config, int layer, Weights w) {
        this.config = config;
        this.layer = layer;
        this.rotary = new Rotary(config.rotaryDim(), config.layers().get(layer).rope());
        String p = "model.layers." + layer + ".";
        long d = config.dModel();
        long q = (long) config.nHeads() * config.dHead();
        long kv = (long) config.nKvHeads() * config.dHead();
        long mlp = config.dMlp();
        boolean ab = config.attentionBias();
        postAttentionNorm = w.get(p + "post_attention_layernorm.weight", d);
        postMlpNorm = w.get(p + "post_feedforward_layernorm.weight", d);
        qNorm = w.get(p + "self_attn.q_norm.weight", q);
        kNorm = w.get(p + "self_attn.k_norm.weight", kv);
        wq = w.get(p + "self_attn.q_proj.weight", q, d).transpose();
        wk = w.get(p + "self_attn.k_proj.weight", kv, d).transpose();
        wv = w.get(p + "self_attn.v_proj.weight", kv, d).transpose();
        wo = w.get(p + "self_attn.o_proj.weight", d, q).transpose();
        bq = ab ? w.get(p + "self_attn.q_proj.bias", q) : null;
        bk = ab ? w.get(p + "self_attn.k_proj.bias", kv) : null;
        bv = ab ? w.get(p + "self_attn.v_proj.bias", kv) : null;
        bo = ab ? w.get(p + "self_attn.o_proj.bias", d) : null;
        wGate = w.get(p + "mlp.gate_proj.weight", mlp, d).transpose();
        wUp = w.get(p + "mlp.up_proj.weight", mlp, d).transpose();
        wDown = w.get(p + "mlp.down_proj.weight", d, mlp).transpose();
    }

    @Override
    public NDArray forward(NDArray resid, HookContext ctx) {
        double eps = config.normEps();
        NDArray q = ctx.apply(
                HookSites.attn(layer, "q"),
                Attention.splitHeads(rmsNorm(linear(resid, wq, bq), qNorm, eps), config.nHeads()));
        NDArray k = ctx.apply(
                HookSites.attn(layer, "k"),
                Attention.splitHeads(rmsNorm(linear(resid, wk, bk), kNorm, eps), config.nKvHeads()));
        NDArray v =
                ctx.apply(HookSites.attn(layer, "v"), Attention.splitHeads(linear(resid, wv, bv), config.nKvHeads()));
        NDArray[] tables = rotary.tables(ctx, q);
        NDArray rq = ctx.apply(HookSites.attn(layer, "rot_q"), rotary.apply(q, tables));
        NDArray rk = ctx.apply(HookSites.attn(layer, "rot_k"), rotary.apply(k, tables));
        NDArray z = Attention.attend(ctx, config, layer, rq, rk, v);
        NDArray attnOut = ctx.apply(
                HookSites.attnOut(layer), rmsNorm(linear(Attention.mergeHeads(z), wo, bo), postAttentionNorm, eps));
        NDArray mid = ctx.apply(HookSites.residMid(layer), resid.add(attnOut));

        NDArray pre = ctx.apply(HookSites.mlp(layer, "pre"), linear(mid, wGate, null));
        NDArray preLinear = ctx.apply(HookSites.mlp(layer, "pre_linear"), linear(mid, wUp, null));
        NDArray post = ctx.apply(
                HookSites.mlp(layer, "post"),
                activation(config.activation(), pre).mul(preLinear));
        NDArray mlpOut = ctx.apply(HookSites.mlpOut(layer), rmsNorm(linear(post, wDown, null), postMlpNorm, eps));
        return mid.add(mlpOut);
    }
}
