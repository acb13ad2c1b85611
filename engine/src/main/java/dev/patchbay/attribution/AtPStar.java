package dev.patchbay.attribution;

import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.GradientVariant;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.Recomputation;
import java.util.List;

/**
 * AtP*: AtP with the QK fix and GradDrop (eqs. 10-11). For each layer l a backward variant stops the gradient
 * through l's residual write; a node's score is (1/(L-1)) sum_l |estimate_l| per pair, then the mean over
 * pairs, so a direct effect and an indirect effect that cancel in the full gradient no longer hide the node.
 *
 * <p>The variants share one forward and one full backward; GradDrop (in the passes) says how.
 */
public final class AtPStar implements AttributionMethod {
    private final int maxRows;
    private final Recomputation recomputation;

    /** @param maxRows prompt pairs per batch */
    public AtPStar(int maxRows) {
        this(maxRows, false);
    }

    /**
     * @param recomputeLayers run each batch with per-layer recomputation ({@link
     *     dev.patchbay.passes.LayerwiseGradientWork}): the same scores in the memory of one layer's graph
     */
    public AtPStar(int maxRows, boolean recomputeLayers) {
        this(maxRows, recomputeLayers ? Recomputation.PER_LAYER : Recomputation.NONE);
    }

    /** @param recomputation how its batches hold their layers (the plan's choice) */
    public AtPStar(int maxRows, Recomputation recomputation) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be positive");
        }
        this.maxRows = maxRows;
        this.recomputation = recomputation;
    }

    /** Whether its batches recompute each layer in the backward instead of keeping every layer's graph. */
    public boolean recomputesLayers() {
        return recomputation.perLayer();
    }

    /** How its batches hold their layers. */
    public Recomputation recomputation() {
        return recomputation;
    }

    /** GradDrop's score sums magnitudes: never negative, whatever the pairs. */
    @Override
    public boolean magnitudes(int pairs) {
        return true;
    }

    @Override
    public String id() {
        return "atp-star";
    }

    @Override
    public AttributionResult run(
            PassRunner runner, List<PromptPair> pairs, NodeSet nodes, AttributionListener listener) {
        return GradientAttribution.run(
                id(), runner, pairs, nodes, GradientVariant.ATP_STAR, maxRows, recomputation, listener);
    }

    @Override
    public double plannedForwardPasses(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes) {
        return pairs.size() * (2 + 2.0 * model.config().nLayers());
    }
}
