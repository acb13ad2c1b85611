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
    private final ProjectionWeights p;

    Olmo2Block(ModelConfig config, int layer, Weights w) {
        this.config = config;
        this.layer = layer;
        this.rotary = new Rotary(config.rotaryDim(), config.layers().get(layer).rope());
        String prefix = "model.layers." + layer + ".";
        long d = config.dModel();
        postAttentionNorm = w.get(prefix + "post_attention_layernorm.weight", d);
        postMlpNorm = w.get(prefix + "post_feedforward_layernorm.weight", d);
        qNorm = w.get(prefix + "self_attn.q_norm.weight", (long) config.nHeads() * config.dHead());
        kNorm = w.get(prefix + "self_attn.k_norm.weight", (long) config.nKvHeads() * config.dHead());
        boolean ab = config.attentionBias();
        p = ProjectionWeights.load(config, w, prefix, ab, ab, false);
    }

    @Override
    public NDArray forward(NDArray resid, HookContext ctx) {
        double eps = config.normEps();
        // No norm before the projections; the q and k norms span all heads, so a split query or key input goes
        // through the whole projection.
        NDArray q = ctx.apply(
                HookSites.attn(layer, "q"),
                SplitInputs.headsOfWholeProjection(
                        ctx,
                        HookSites.headInput(layer, "q"),
                        resid,
                        config.nHeads(),
                        x -> rmsNorm(linear(x, p.wq(), p.bq()), qNorm, eps)));
        NDArray k = ctx.apply(
                HookSites.attn(layer, "k"),
                SplitInputs.headsOfWholeProjection(
                        ctx,
                        HookSites.headInput(layer, "k"),
                        resid,
                        config.nKvHeads(),
                        x -> rmsNorm(linear(x, p.wk(), p.bk()), kNorm, eps)));
        NDArray v = ctx.apply(
                HookSites.attn(layer, "v"),
                SplitInputs.heads(
                        ctx,
                        HookSites.headInput(layer, "v"),
                        resid,
                        resid,
                        config.nKvHeads(),
                        UnaryOperator.identity(),
                        p.wv(),
                        p.bv()));
        NDArray[] tables = rotary.tables(ctx, q);
        NDArray rq = ctx.apply(HookSites.attn(layer, "rot_q"), rotary.apply(q, tables));
        NDArray rk = ctx.apply(HookSites.attn(layer, "rot_k"), rotary.apply(k, tables));
        NDArray z = Attention.attend(ctx, config, layer, rq, rk, v);
        NDArray attnOut = ctx.apply(
                HookSites.attnOut(layer),
                rmsNorm(linear(Attention.mergeHeads(z), p.wo(), p.bo()), postAttentionNorm, eps));
        NDArray mid = ctx.apply(HookSites.residMid(layer), resid.add(attnOut));

        NDArray mlpIn = ctx.apply(HookSites.mlpIn(layer), mid);
        NDArray pre = ctx.apply(HookSites.mlp(layer, "pre"), linear(mlpIn, p.wGate(), p.bGate()));
        NDArray preLinear = ctx.apply(HookSites.mlp(layer, "pre_linear"), linear(mlpIn, p.wUp(), p.bUp()));
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
