package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import dev.patchbay.model.Scalars;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.NodeKind;
import java.util.List;
import java.util.Map;

/**
 * GradDrop (eq. 11) as a pass of its own: for each layer l a backward variant stops the gradient through l's
 * residual write, and a node's per-pair score is (1/(L-1)) sum_l |estimate_l|.
 *
 * <p>The variants are not L separate backward passes. Variant l equals the full backward above layer l, is
 * zero inside it, and below it is the full gradient at resid_post(l) pushed back from resid_pre(l) through
 * the earlier layers (the stop makes layer l an identity for the gradient). So one forward with its graph
 * kept, one full backward, and for each l a partial backward through l layers: about (L - 1) / 2 extra
 * backward passes in all. A node in layer n gets n copies of its full estimate (the variants above it) and a
 * zero (its own layer); residual-stream nodes belong to no layer and get all L terms.
 */
final class GradDrop {
    private GradDrop() {}

    /**
     * Fills {@code scores} with each pair's GradDrop score [pair, node] (eq. 11, before the mean over pairs) for
     * every group of the pass, whose full backward has run; the scores stay on the device, accumulated there, so
     * each group is read back once rather than once per variant. Returns the compute of the partial backward
     * passes, in forward passes per pair.
     */
    static double scores(GradientPass pass, int layers, Map<BlockKey, NDArray> scores) {
        // Each variant's estimates are closed once added: kept until the pass ends, L of them per group held about
        // 0.4 GB more at the peak of the benchmark's AtP*.
        for (BlockKey g : pass.groups()) {
            // The variants above the node's layer each see the full estimate.
            try (NDArray full = pass.estimates(g);
                    NDArray magnitude = full.abs()) {
                scores.put(g, Scalars.times(magnitude, g.layer()));
            }
        }
        NDArray[] upstream = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            upstream[l] = pass.residualGradient(l);
        }
        double compute = 0;
        for (int l = 0; l < layers; l++) {
            final int dropped = l;
            List<BlockKey> below =
                    pass.groups().stream().filter(g -> isBelow(g, dropped)).toList();
            if (below.isEmpty()) {
                continue;
            }
            pass.zeroGradients();
            pass.backwardFrom(l, upstream[l]);
            compute += 2.0 * l / layers;
            for (BlockKey g : below) {
                NDArray before = scores.get(g);
                try (NDArray variant = pass.estimates(g);
                        NDArray magnitude = variant.abs()) {
                    scores.put(g, before.add(magnitude));
                }
                before.close();
            }
        }
        int informative = Math.max(1, layers - 1);
        scores.replaceAll((g, score) -> {
            NDArray mean = Scalars.times(score, 1.0 / informative);
            score.close();
            return mean;
        });
        return compute;
    }

    /** Whether the group's site lies below the stop at layer {@code dropped}, i.e. before resid_pre(dropped). */
    private static boolean isBelow(BlockKey g, int dropped) {
        return g.layer() < dropped || (g.kind() == NodeKind.RESIDUAL && g.layer() == dropped);
    }
}
