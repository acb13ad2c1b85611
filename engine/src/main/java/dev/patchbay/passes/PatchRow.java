package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import dev.patchbay.model.Patch;
import dev.patchbay.nodes.Metric;
import java.util.List;

/**
 * One patched run: the clean prompt resumed at {@code layer} from its clean residual stream, with patches
 * applied, read by the metric at one position. Rows of the same layer run together in one batch, even when
 * they come from different requests.
 *
 * @param residPre the clean run's resid_pre(layer), [1, T, d_model]
 * @param patches sites and their patches; each Patch's row index is ignored (the batch assigns rows)
 * @param reference the clean run's log-probabilities at the metric position, [1, V] (for KL)
 */
public record PatchRow(
        int[] tokens,
        int layer,
        NDArray residPre,
        List<SitePatch> patches,
        Metric metric,
        int position,
        NDArray reference) {
    /** A patch at one hook site. */
    public record SitePatch(String site, Patch patch) {}
}
