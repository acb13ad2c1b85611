package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import dev.patchbay.model.Scalars;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * GradDrop's schedule (eq. 11), one for node and edge passes: for each layer l a backward variant stops the gradient
 * through l's residual write, and a site's per-pair score is the mean of |estimate| over the variants.
 *
 * <p>The variants are not L separate backward passes. Variant l equals the full backward above layer l, is zero
 * inside it, and below it is the full gradient at resid_post(l) pushed back from resid_pre(l) through the earlier
 * layers (the stop makes layer l an identity for the gradient). So one forward with its graph kept, one full backward,
 * and for each l a partial backward through l layers: about (L - 1) / 2 extra backward passes in all. A site in layer n
 * gets n copies of its full estimate (the variants above it), a zero from its own layer, and one read per variant
 * below it. What an estimate is (a node's change x gradient, an edge's, the QK fix's recomputed softmax) is the pass's
 * own; this class owns only which gradient each read sees.
 */
final class GradDrop {
    private GradDrop() {}

    /** The pass's backward, as GradDrop drives it. */
    interface Backward {
        /** The full gradient at resid_post(layer), copied so that later variants cannot change it. */
        NDArray residualGradient(int layer);

        /** Zeroes the gradients the estimates read, before a variant's backward. */
        void zeroGradients();

        /** Pushes {@code upstream} back from resid_pre(layer) through the layers below it. */
        void backwardFrom(int layer, NDArray upstream);
    }

    /** The sites a pass scores (node groups, edge reader groups) and how it reads them. */
    interface Scored<G> {
        List<G> groups();

        /** How many variants leave g's gradient as the full backward left it: one per layer above g's site. */
        int fullVariants(G g);

        /** Whether the variant stopping layer {@code stop} changes g's gradient, so g is read again after it. */
        boolean changedBy(G g, int stop);

        /**
         * Adds weight(g) x |estimate| of each of {@code groups} under the gradient the pass holds now (the first read
         * of a group starts its sum, whatever its weight).
         */
        void read(List<G> groups, ToIntFunction<G> weight);
    }

    /**
     * Runs the schedule after the pass's full backward: reads each site's full estimate, then runs each variant that
     * changes some site's gradient and reads those sites again. Returns the compute of the partial backward passes,
     * in forward passes per pair.
     */
    static <G> double run(Backward backward, Scored<G> scored, int layers) {
        // Each variant's estimates are closed once added: kept until the pass ends, L of them per group held about
        // 0.4 GB more at the peak of the benchmark's AtP*.
        scored.read(scored.groups(), scored::fullVariants);
        NDArray[] upstream = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            upstream[l] = backward.residualGradient(l);
        }
        double compute = 0;
        for (int l = 0; l < layers; l++) {
            final int stop = l;
            List<G> changed = scored.groups().stream()
                    .filter(g -> scored.changedBy(g, stop))
                    .toList();
            if (changed.isEmpty()) {
                continue;
            }
            backward.zeroGradients();
            backward.backwardFrom(l, upstream[l]);
            compute += 2.0 * l / layers;
            scored.read(changed, g -> 1);
        }
        return compute;
    }

    /**
     * Adds weight x |estimate| to g's running sum (the first read starts it), on the device; the sum before is closed.
     */
    static <G> void accumulate(Map<G, NDArray> sums, G g, NDArray estimate, int weight) {
        NDArray before = sums.get(g);
        NDArray term;
        try (NDArray magnitude = estimate.abs()) {
            term = Scalars.times(magnitude, weight);
        }
        if (before == null) {
            sums.put(g, term);
            return;
        }
        sums.put(g, before.add(term));
        term.close();
        before.close();
    }

    /** The divisor of eq. 11: the variants that can leave a site inside a layer a gradient (all but its own). */
    static int informativeVariants(int layers) {
        return Math.max(1, layers - 1);
    }
}
