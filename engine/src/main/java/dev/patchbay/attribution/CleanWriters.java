package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.model.Precision;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.CircuitBatch;
import dev.patchbay.passes.EdgeSites;
import dev.patchbay.passes.ForwardPass;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What circuit evaluation and causal scrubbing read from each pair's clean run, one forward per pair: every writer's
 * output (the values ablated or resampled edges take) and the log-probabilities at the metric position (the KL
 * metric's reference).
 *
 * @param outputs [pairs, writers, T, d_model]
 * @param references per pair [1, V]
 */
record CleanWriters(NDArray outputs, List<NDArray> references) {
    static CleanWriters of(PassRunner runner, NDManager scope, List<PromptPair> pairs) {
        Set<String> sites =
                new LinkedHashSet<>(EdgeSites.writerSites(runner.model().config()));
        NDList outputs = new NDList();
        List<NDArray> references = new ArrayList<>();
        for (PromptPair pair : pairs) {
            ForwardPass.Activations run = runner.run(new ForwardPass(scope, pair.clean(), sites, true));
            outputs.add(CircuitBatch.writerOutputs(runner.model(), run.sites()));
            references.add(Precision.widened(run.logits().get(new NDIndex("0, {}", pair.metricPosition())))
                    .logSoftmax(-1)
                    .expandDims(0));
        }
        return new CleanWriters(NDArrays.stack(outputs), references);
    }
}
