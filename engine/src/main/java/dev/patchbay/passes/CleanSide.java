package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.Scoped;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The clean run's side of a batch: activations and metric gradients at the sites the estimates read, each
 * row's metric, and its log-probabilities at the metric position (the noise metric's KL reference). A
 * live gradient session provides it, or, for AtP without GradDrop, the cache of an earlier request.
 */
public record CleanSide(
        Map<String, NDArray> activations,
        Set<String> gradientSites,
        Function<String, NDArray> gradients,
        double[] metrics,
        NDArray reference) {
    /** Row {@code r} of a batch's clean side, as a one-pair batch (views of the same arrays). */
    CleanSide row(int r) {
        Map<String, NDArray> acts = new HashMap<>();
        activations.forEach((s, a) -> acts.put(s, a.get("{}:{}", r, r + 1)));
        Map<String, NDArray> grads = new HashMap<>();
        gradientSites.forEach(s -> grads.put(s, gradients.apply(s).get("{}:{}", r, r + 1)));
        return new CleanSide(
                acts, gradientSites, grads::get, new double[] {metrics[r]}, reference.get("{}:{}", r, r + 1));
    }

    /** Pairs' clean sides (of equal length) as one batch owned by {@code scope}. */
    static CleanSide stack(NDManager scope, List<CleanSide> rows) {
        Set<String> gradientSites = rows.get(0).gradientSites;
        Map<String, NDArray> acts = new HashMap<>();
        for (String s : rows.get(0).activations.keySet()) {
            acts.put(
                    s,
                    Scoped.concat(
                            scope, rows.stream().map(c -> c.activations.get(s)).toList()));
        }
        Map<String, NDArray> grads = new HashMap<>();
        for (String s : gradientSites) {
            grads.put(
                    s,
                    Scoped.concat(
                            scope, rows.stream().map(c -> c.gradients.apply(s)).toList()));
        }
        double[] metrics = rows.stream().mapToDouble(c -> c.metrics[0]).toArray();
        NDArray reference =
                Scoped.concat(scope, rows.stream().map(c -> c.reference).toList());
        return new CleanSide(acts, gradientSites, grads::get, metrics, reference);
    }
}
