package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.function.UnaryOperator;

/**
 * TransformerLens's split inputs ({@code use_split_qkv_input}): each head's query, key and value projection reads
 * a private copy of the residual stream ({@code hook_q_input}, [B, T, heads, d_model]), so that an edge into one
 * head's query moves that query alone. The split form is computed only where a forward's hooks name the site;
 * everywhere else every head reads the shared stream, as the model itself does, at no extra cost. Both forms give
 * the same values (up to the order of float sums).
 */
public final class SplitInputs {
    private SplitInputs() {}

    /** Whether no head of {@code layer} reads a split input of its own this pass (the model's usual form). */
    public static boolean noneSplit(HookContext ctx, int layer) {
        return !ctx.names(HookSites.headInput(layer, "q"))
                && !ctx.names(HookSites.headInput(layer, "k"))
                && !ctx.names(HookSites.headInput(layer, "v"));
    }

    /**
     * One projection's heads, [B, T, heads, d_head], for families whose heads project their (normalized) input
     * independently: head h's output is norm(x_h) W[:, h] + b[h].
     *
     * @param site the split input's hook site ({@link HookSites#headInput})
     * @param resid the residual stream the projection reads, [B, T, d_model]
     * @param normalized inputNorm(resid), shared by the projections that are not split
     * @param inputNorm the norm before the projection (identity where there is none)
     * @param w the projection [d_model, heads * d_head]
     * @param b its bias [heads * d_head], or null
     */
    public static NDArray heads(
            HookContext ctx,
            String site,
            NDArray resid,
            NDArray normalized,
            int heads,
            UnaryOperator<NDArray> inputNorm,
            NDArray w,
            NDArray b) {
        if (!ctx.names(site)) {
            return Attention.splitHeads(Functional.linear(normalized, w, b), heads);
        }
        NDArray x = inputNorm.apply(ctx.apply(site, perHead(resid, heads))); // [B, T, H, d]
        long d = w.getShape().get(0);
        long dHead = w.getShape().get(1) / heads;
        // Views owned by the layer's scope: a reshape of a weight would otherwise belong to the model for good.
        NDArray perHeadWeights =
                Scoped.view(ctx.scope(), w).reshape(d, heads, dHead).transpose(1, 0, 2); // [H, d, d_head]
        NDArray y = x.transpose(0, 2, 1, 3).matMul(perHeadWeights).transpose(0, 2, 1, 3);
        return b == null ? y : y.add(Scoped.view(ctx.scope(), b).reshape(heads, dHead));
    }

    /**
     * One projection's heads where a norm spans all heads together after the projection (OLMo 2's q/k norms):
     * head h reads its private input through the whole projection and norm, and keeps its own slice.
     *
     * @param project the residual stream [.., d_model] to the normalized projection [.., heads * d_head]
     */
    public static NDArray headsOfWholeProjection(
            HookContext ctx, String site, NDArray resid, int heads, UnaryOperator<NDArray> project) {
        if (!ctx.names(site)) {
            return Attention.splitHeads(project.apply(resid), heads);
        }
        NDArray all = project.apply(ctx.apply(site, perHead(resid, heads))); // [B, T, H, H * d_head]
        Shape s = all.getShape();
        long dHead = s.get(3) / heads;
        NDArray eye = ctx.memo(
                "split-inputs eye " + heads + " " + all.getDataType(),
                pass -> pass.eye(heads).toType(all.getDataType(), false).reshape(1, 1, heads, heads, 1));
        // Head h's slice of the projection of head h's own input: the diagonal over (input head, output head).
        return all.reshape(s.get(0), s.get(1), heads, heads, dHead).mul(eye).sum(new int[] {3});
    }

    /** [B, T, d] to [B, T, heads, d]: one copy of the stream per head. */
    private static NDArray perHead(NDArray resid, int heads) {
        Shape s = resid.getShape();
        return resid.expandDims(2).broadcast(new Shape(s.get(0), s.get(1), heads, s.get(2)));
    }

    /**
     * Each head's change of a write that a norm follows, out = norm(merge(z) W_O + b): norm(A + dz_h W_O[h]) -
     * norm(A) with A the clean pre-norm output [B, T, d_model].
     */
    public static NDArray normalizedHeadWrites(
            NDArray cleanZ, NDArray noiseZ, NDArray wo, NDArray bo, UnaryOperator<NDArray> norm) {
        NDArray before = Functional.linear(Attention.mergeHeads(cleanZ), wo, bo);
        NDArray moved = before.expandDims(2).add(Functional.headWrites(noiseZ.sub(cleanZ), wo));
        return norm.apply(moved).sub(norm.apply(before).expandDims(2));
    }
}
