package dev.patchbay.model.family;

import static dev.patchbay.model.Functional.activation;
import static dev.patchbay.model.Functional.linear;
import static dev.patchbay.model.Functional.rmsNorm;

import ai.djl.ndarray.NDArray;
import dev.patchbay.model.Attention;
import dev.patchbay.model.HookContext;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Rotary;
import dev.patchbay.model.SplitInputs;
import dev.patchbay.model.TransformerBlock;
import dev.patchbay.model.Weights;
import java.util.function.UnaryOperator;

/**
 * A Gemma 2 or Gemma 3 layer: RMSNorm both before and after attention and the MLP (the output norms write to
 * the residual stream, so hook_attn_out and hook_mlp_out are after them, as in TransformerLens), GeGLU with the
 * tanh GELU, scores scaled by query_pre_attn_scalar^-1/2 and soft-capped (Gemma 2), and in Gemma 3 RMSNorm on
 * each head's query and key before rotary. Gemma's norms scale by (1 + w): {@link GemmaFamily} folds the 1 into
 * the weights as it loads them.
 */
final class GemmaBlock implements TransformerBlock {
    private final ModelConfig config;
    private final int layer;
    private final Rotary rotary;
    private final NDArray inputNorm, postAttentionNorm, preMlpNorm, postMlpNorm, qNorm, kNorm;
    private final ProjectionWeights p;

    /** @param norm reads a norm weight by name and length, with Gemma's 1 added */
    GemmaBlock(ModelConfig config, int layer, Weights w, NormWeights norm, boolean qkNorm) {
        this.config = config;
        this.layer = layer;
        this.rotary = new Rotary(config.rotaryDim(), config.layers().get(layer).rope());
        String prefix = "model.layers." + layer + ".";
        long d = config.dModel();
        inputNorm = norm.get(prefix + "input_layernorm.weight", d);
        postAttentionNorm = norm.get(prefix + "post_attention_layernorm.weight", d);
        preMlpNorm = norm.get(prefix + "pre_feedforward_layernorm.weight", d);
        postMlpNorm = norm.get(prefix + "post_feedforward_layernorm.weight", d);
        qNorm = qkNorm ? norm.get(prefix + "self_attn.q_norm.weight", config.dHead()) : null;
        kNorm = qkNorm ? norm.get(prefix + "self_attn.k_norm.weight", config.dHead()) : null;
        boolean ab = config.attentionBias();
        p = ProjectionWeights.load(config, w, prefix, ab, ab, false);
    }

    /** Reads a norm's weight with Gemma's (1 + w) folded in. */
    interface NormWeights {
        NDArray get(String name, long length);
    }

    @Override
    public NDArray forward(NDArray resid, HookContext ctx) {
        double eps = config.normEps();
        UnaryOperator<NDArray> inputNorm = r -> rmsNorm(r, this.inputNorm, eps);
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
            q = ctx.apply(HookSites.attn(layer, "q_normed"), rmsNorm(q, qNorm, eps));
            k = ctx.apply(HookSites.attn(layer, "k_normed"), rmsNorm(k, kNorm, eps));
        }
        NDArray[] tables = rotary.tables(ctx, q);
        NDArray rq = ctx.apply(HookSites.attn(layer, "rot_q"), rotary.apply(q, tables));
        NDArray rk = ctx.apply(HookSites.attn(layer, "rot_k"), rotary.apply(k, tables));
        NDArray z = Attention.attend(ctx, config, layer, rq, rk, v);
        NDArray attnOut = ctx.apply(
                HookSites.attnOut(layer),
                rmsNorm(linear(Attention.mergeHeads(z), p.wo(), p.bo()), postAttentionNorm, eps));
        NDArray mid = ctx.apply(HookSites.residMid(layer), resid.add(attnOut));

        NDArray y = rmsNorm(ctx.apply(HookSites.mlpIn(layer), mid), preMlpNorm, eps);
        NDArray pre = ctx.apply(HookSites.mlp(layer, "pre"), linear(y, p.wGate(), p.bGate()));
        NDArray preLinear = ctx.apply(HookSites.mlp(layer, "pre_linear"), linear(y, p.wUp(), p.bUp()));
        NDArray post = ctx.apply(
                HookSites.mlp(layer, "post"),
                activation(config.activation(), pre).mul(preLinear));
        NDArray mlpOut =
                ctx.apply(HookSites.mlpOut(layer), rmsNorm(linear(post, p.wDown(), p.bDown()), postMlpNorm, eps));
        return mid.add(mlpOut);
    }

    @Override
    public boolean headWritesAdd() {
        return false;
    }

    @Override
    public NDArray headWriteChanges(NDArray cleanZ, NDArray noiseZ) {
        double eps = config.normEps();
        return SplitInputs.normalizedHeadWrites(
                cleanZ, noiseZ, p.wo(), p.bo(), out -> rmsNorm(out, postAttentionNorm, eps));
    }
}
