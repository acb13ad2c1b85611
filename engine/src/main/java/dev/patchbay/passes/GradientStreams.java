package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What a pass recomputing one layer at a time ({@link LayerwiseGradientWork}, {@link LayerwiseEdgeWork}) hands from a
 * layer to the one below: the gradients at the layer's output (or, handed down, its input): the full backward's
 * ({@code null} above the top layer, where the metric's own backward starts), and with GradDrop each variant's started
 * above, by the layer whose write it stops.
 */
record GradientStreams(NDArray full, SortedMap<Integer, NDArray> variants) {
    /** Above the top layer: no gradient yet. */
    static GradientStreams none() {
        return new GradientStreams(null, new TreeMap<>());
    }

    /** The full gradient {@code full}, and variants to be added as the layer is read. */
    static GradientStreams of(NDArray full) {
        return new GradientStreams(full, new TreeMap<>());
    }

    void attach(NDManager scope) {
        full.attach(scope);
        variants.values().forEach(v -> v.attach(scope));
    }

    void close() {
        if (full != null) {
            full.close();
        }
        variants.values().forEach(NDArray::close);
    }
}
