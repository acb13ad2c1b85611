package dev.patchbay.attribution;

import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.GradientVariant;
import dev.patchbay.passes.LayerwiseGradientWork;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.Recomputation;
import java.util.List;

/**
 * Attribution patching: the first-order estimate (n(noise) - n(clean)) . dMetric/dn at the clean run (eq. 4)
 * of every node at once, from a noise forward, a clean forward and one backward pass per pair; with the QK fix
 * (eqs. 6-10), query and key nodes recompute the attention softmax exactly instead. One pair gives signed
 * estimates; a distribution gives the mean of per-pair absolute values (eq. 5).
 */
public final class AtP implements AttributionMethod {
    private final GradientVariant variant;
    private final int maxRows;
    private final Recomputation recomputation;

    /**
     * @param qkFix whether query and key nodes get the QK fix
     * @param maxRows prompt pairs per batch
     */
    public AtP(boolean qkFix, int maxRows) {
        this(qkFix, maxRows, false);
    }

    /**
     * @param recomputeLayers run each batch with per-layer recomputation ({@link LayerwiseGradientWork}): the same
     *     estimates in the memory of one layer's graph, at about 1.5 times the compute
     */
    public AtP(boolean qkFix, int maxRows, boolean recomputeLayers) {
        this(qkFix, maxRows, recomputeLayers ? Recomputation.PER_LAYER : Recomputation.NONE);
    }

    /** @param recomputation how its batches hold their layers (the plan's choice) */
    public AtP(boolean qkFix, int maxRows, Recomputation recomputation) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be positive");
        }
        this.variant = qkFix ? GradientVariant.ATP_QK_FIX : GradientVariant.ATP;
        this.maxRows = maxRows;
        this.recomputation = recomputation;
    }

    /** Whether its batches recompute each layer in the backward instead of keeping every layer's graph. */
    public boolean recomputesLayers() {
        return recomputation.perLayer();
    }

    /** A single pair's estimates are signed; over a distribution, the mean of per-pair magnitudes (eq. 5). */
    @Override
    public boolean magnitudes(int pairs) {
        return pairs > 1;
    }

    @Override
    public String id() {
        return variant.qkFix() ? "atp-qk" : "atp";
    }

    @Override
    public AttributionResult run(
            PassRunner runner, List<PromptPair> pairs, NodeSet nodes, AttributionListener listener) {
        return GradientAttribution.run(id(), runner, pairs, nodes, variant, maxRows, recomputation, listener);
    }

    @Override
    public double plannedForwardPasses(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes) {
        return 4.0 * pairs.size();
    }
}
