package dev.patchbay.model;

import static dev.patchbay.model.Functional.activation;
import static dev.patchbay.model.Functional.linear;
import static dev.patchbay.model.Functional.norm;

import ai.djl.ndarray.NDArray;

/**
 * A Llama-family layer: RMSNorm, rotary on whole heads, grouped-query attention (fewer key/value heads than
 * query heads), and a gated MLP: post = act(x W_gate) * (x W_up).
 */
final class LlamaBlock implements TransformerBlock {
    private final ModelConfig config;
    private final int layer;
    private final Rotary rotary;
    private final NDArray norm1, norm2;
    private final NDArray wq, bq, wk, bk, wv, bv, wo, bo;
    private final NDArray wGate, bGate, wUp, bUp, wDown, bDown;

    private LlamaBlock(ModelConfig config, int layer, Weights w, String p) {
        this.config = config;
        this.layer = layer;
        this.rotary = new Rotary(config.rotaryDim(), config.ropeTheta());
        long d = config.dModel();
        long q = (long) config.nHeads() * config.dHead();
        long kv = (long) config.nKvHeads() * config.dHead();
        long mlp = config.dMlp();
        boolean ab = config.attentionBias();
        boolean mb = config.mlpBias();
        norm1 = w.get(p + "input_layernorm.weight", d);
        norm2 = w.get(p + "post_attention_layernorm.weight", d);
        // nn.Linear stores [out, in]; the runtime multiplies activations on the left, so keep [in, out] views.
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
        bGate = mb ? w.get(p + "mlp.gate_proj.bias", mlp) : null;
        bUp = mb ? w.get(p + "mlp.up_proj.bias", mlp) : null;
        bDown = mb ? w.get(p + "mlp.down_proj.bias", d) : null;
    }

    static LlamaBlock load(ModelConfig config, int layer, Weights weights) {
        return new LlamaBlock(config, layer, weights, "model.layers." + layer + ".");
    }

    @Override
    public NDArray forward(NDArray resid, HookContext ctx) {
        NDArray x = norm(config, resid, norm1, null);
        NDArray q = ctx.apply(HookSites.attn(layer, "q"), Attention.splitHeads(linear(x, wq, bq), config.nHeads()));
        NDArray k = ctx.apply(HookSites.attn(layer, "k"), Attention.splitHeads(linear(x, wk, bk), config.nKvHeads()));
        NDArray v = ctx.apply(HookSites.attn(layer, "v"), Attention.splitHeads(linear(x, wv, bv), config.nKvHeads()));
        NDArray[] tables =
                ctx.memo("rotary", pass -> rotary.tables(pass, q.getShape().get(1), q.getDataType()));
        NDArray rq = ctx.apply(HookSites.attn(layer, "rot_q"), rotary.apply(q, tables));
        NDArray rk = ctx.apply(HookSites.attn(layer, "rot_k"), rotary.apply(k, tables));
        NDArray z = Attention.attend(ctx, layer, rq, rk, v, config.attnScale(layer));
        NDArray attnOut = ctx.apply(HookSites.attnOut(layer), linear(Attention.mergeHeads(z), wo, bo));
        NDArray mid = ctx.apply(HookSites.residMid(layer), resid.add(attnOut));

        NDArray y = norm(config, mid, norm2, null);
        NDArray pre = ctx.apply(HookSites.mlp(layer, "pre"), linear(y, wGate, bGate));
        NDArray preLinear = ctx.apply(HookSites.mlp(layer, "pre_linear"), linear(y, wUp, bUp));
        NDArray post = ctx.apply(
                HookSites.mlp(layer, "post"),
                activation(config.activation(), pre).mul(preLinear));
        NDArray mlpOut = ctx.apply(HookSites.mlpOut(layer), linear(post, wDown, bDown));
        return mid.add(mlpOut);
    }
}
