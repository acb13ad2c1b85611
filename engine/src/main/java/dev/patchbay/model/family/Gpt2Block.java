package dev.patchbay.model.family;

import static dev.patchbay.model.Functional.activation;
import static dev.patchbay.model.Functional.linear;
import static dev.patchbay.model.Functional.norm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.model.Attention;
import dev.patchbay.model.Functional;
import dev.patchbay.model.HookContext;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.SplitInputs;
import dev.patchbay.model.TransformerBlock;
import dev.patchbay.model.Weights;
import java.util.function.UnaryOperator;

/** A GPT-2 layer: pre-LayerNorm, attention then MLP in sequence, learned positions (added at the embedding). */
final class Gpt2Block implements TransformerBlock {
    private final ModelConfig config;
    private final int layer;
    private final NDArray ln1Weight, ln1Bias, ln2Weight, ln2Bias;
    private final NDArray wqkv, bqkv, wq, bq, wk, bk, wv, bv, wo, bo;
    private final NDArray wIn, bIn, wOut, bOut;

    private Gpt2Block(ModelConfig config, int layer, Weights w, String p) {
        this.config = config;
        this.layer = layer;
        long d = config.dModel();
        long mlp = config.dMlp();
        ln1Weight = w.get(p + "ln_1.weight", d);
        ln1Bias = w.get(p + "ln_1.bias", d);
        ln2Weight = w.get(p + "ln_2.weight", d);
        ln2Bias = w.get(p + "ln_2.bias", d);
        // GPT-2's Conv1D stores weights [in, out]; c_attn packs q, k and v side by side.
        wqkv = w.get(p + "attn.c_attn.weight", d, 3 * d);
        bqkv = w.get(p + "attn.c_attn.bias", 3 * d);
        wq = wqkv.get(new NDIndex(":, :{}", d));
        wk = wqkv.get(new NDIndex(":, {}:{}", d, 2 * d));
        wv = wqkv.get(new NDIndex(":, {}:", 2 * d));
        bq = bqkv.get(new NDIndex(":{}", d));
        bk = bqkv.get(new NDIndex("{}:{}", d, 2 * d));
        bv = bqkv.get(new NDIndex("{}:", 2 * d));
        wo = w.get(p + "attn.c_proj.weight", d, d);
        bo = w.get(p + "attn.c_proj.bias", d);
        wIn = w.get(p + "mlp.c_fc.weight", d, mlp);
        bIn = w.get(p + "mlp.c_fc.bias", mlp);
        wOut = w.get(p + "mlp.c_proj.weight", mlp, d);
        bOut = w.get(p + "mlp.c_proj.bias", d);
    }

    static Gpt2Block load(ModelConfig config, int layer, Weights weights, String prefix) {
        return new Gpt2Block(config, layer, weights, prefix + "h." + layer + ".");
    }

    @Override
    public NDArray forward(NDArray resid, HookContext ctx) {
        int heads = config.nHeads();
        UnaryOperator<NDArray> ln1 = r -> norm(config, r, ln1Weight, ln1Bias);
        NDArray x = ln1.apply(resid);
        NDArray q;
        NDArray k;
        NDArray v;
        if (SplitInputs.noneSplit(ctx, layer)) {
            // One product for q, k and v, as c_attn packs them: two matrix products and two bias adds fewer a
            // layer. The three are views of the one result.
            NDList qkv = linear(x, wqkv, bqkv).split(3, 2);
            q = ctx.apply(HookSites.attn(layer, "q"), Attention.splitHeads(qkv.get(0), heads));
            k = ctx.apply(HookSites.attn(layer, "k"), Attention.splitHeads(qkv.get(1), heads));
            v = ctx.apply(HookSites.attn(layer, "v"), Attention.splitHeads(qkv.get(2), heads));
        } else {
            q = ctx.apply(
                    HookSites.attn(layer, "q"),
                    SplitInputs.heads(ctx, HookSites.headInput(layer, "q"), resid, x, heads, ln1, wq, bq));
            k = ctx.apply(
                    HookSites.attn(layer, "k"),
                    SplitInputs.heads(ctx, HookSites.headInput(layer, "k"), resid, x, heads, ln1, wk, bk));
            v = ctx.apply(
                    HookSites.attn(layer, "v"),
                    SplitInputs.heads(ctx, HookSites.headInput(layer, "v"), resid, x, heads, ln1, wv, bv));
        }
        NDArray z = Attention.attend(ctx, config, layer, q, k, v);
        ctx.headsWrote(z, wo);
        NDArray attnOut = ctx.apply(HookSites.attnOut(layer), linear(Attention.mergeHeads(z), wo, bo));
        NDArray mid = ctx.apply(HookSites.residMid(layer), resid.add(attnOut));

        NDArray pre = ctx.apply(
                HookSites.mlp(layer, "pre"),
                linear(norm(config, ctx.apply(HookSites.mlpIn(layer), mid), ln2Weight, ln2Bias), wIn, bIn));
        NDArray post = ctx.apply(HookSites.mlp(layer, "post"), activation(config.activation(), pre));
        NDArray mlpOut = ctx.apply(HookSites.mlpOut(layer), linear(post, wOut, bOut));
        return mid.add(mlpOut);
    }

    @Override
    public NDArray headWriteChanges(NDArray cleanZ, NDArray noiseZ) {
        return Functional.headWrites(noiseZ.sub(cleanZ), wo);
    }
}
