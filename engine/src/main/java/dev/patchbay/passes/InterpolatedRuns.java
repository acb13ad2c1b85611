package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.Patch;
import dev.patchbay.model.Scalars;
import dev.patchbay.model.Scoped;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One batch of EAP-IG's interpolated runs of a pair (Hanna et al. 2024, following their code): the clean prompt with
 * layer 0's input at noise + (k / m)(clean - noise) for steps k of [from, to), m steps in all, each read against the
 * clean run's log-probabilities (KL). The plain edge pass and the recomputed one run the same batches.
 *
 * @param positions each row's metric position
 * @param hooks the patches of layer 0's input, one per row, and the rows' metric positions to unembed; the caller
 *     adds the sites it keeps or differentiates
 * @param metric each row's metric, owned by the batch's scope
 */
record InterpolatedRuns(TokenBatch tokens, int[] positions, Hooks.Builder hooks, MetricBatch metric) {
    /** Interpolated runs per batch (a pass with its graph, or recomputed, each). */
    static final int ROWS = 16;

    /**
     * Steps [from, to) of {@code steps} for pair {@code p} of a batch, in {@code scope}.
     *
     * @param noiseInput,toClean the pair's layer-0 input in its noise run and the difference to its clean one, at the
     *     pair's own length
     * @param reference the clean runs' log-probabilities at the metric positions, one row per pair of the batch
     */
    static InterpolatedRuns of(
            NDManager scope,
            PromptPair pair,
            int p,
            NDArray noiseInput,
            NDArray toClean,
            NDArray reference,
            int from,
            int to,
            int steps) {
        int rows = to - from;
        Hooks.Builder hooks = Hooks.builder();
        int[][] tokens = new int[rows][];
        List<Metric> metrics = new ArrayList<>();
        List<NDArray> references = new ArrayList<>();
        for (int k = from; k < to; k++) {
            NDArray point = Scalars.times(Scoped.view(scope, toClean), (double) k / steps)
                    .add(noiseInput);
            hooks.patch(HookSites.residPre(0), Patch.whole(k - from, point));
            tokens[k - from] = pair.clean();
            metrics.add(pair.metric());
            references.add(reference.get(new NDIndex("{}:{}", p, p + 1)));
        }
        int[] positions = new int[rows];
        Arrays.fill(positions, pair.metricPosition());
        hooks.unembedOnly(positions);
        return new InterpolatedRuns(
                TokenBatch.of(tokens),
                positions,
                hooks,
                new MetricBatch(scope, metrics, new int[rows], Scoped.concat(scope, references)));
    }
}
