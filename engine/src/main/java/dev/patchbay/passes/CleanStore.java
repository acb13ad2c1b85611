package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import java.util.Map;
import java.util.Set;

/**
 * What clean prompts cost once, as passes see it: a runner's store of clean forwards' activations and of AtP
 * pairs' clean sides, keyed by the clean prompt's token ids. The device's cache implements it; {@link #NONE} keeps
 * nothing. Only the thread that runs passes touches it.
 */
public interface CleanStore {
    /** Keeps nothing: every look-up misses and nothing is counted. */
    CleanStore NONE = new CleanStore() {
        @Override
        public boolean enabled() {
            return false;
        }

        @Override
        public ForwardPass.Activations activations(int[] tokens, Set<String> sites, NDManager scope) {
            return null;
        }

        @Override
        public void putActivations(int[] tokens, Map<String, NDArray> sites, NDArray logits) {}

        @Override
        public boolean holdsCleanSide(int[] tokens, AtPSide side) {
            return false;
        }

        @Override
        public PackedCleanSide cleanSide(int[] tokens, AtPSide side, NDManager scope) {
            return null;
        }

        @Override
        public void putCleanSide(int[] tokens, AtPSide side, PackedCleanSide packed) {}
    };

    /** Which AtP setting a clean side was computed for: the same prompt's side differs by each of these. */
    record AtPSide(GradientVariant variant, NodeSet nodes, Metric metric, int metricPosition) {}

    /** Whether this store keeps anything (a budget above zero). */
    boolean enabled();

    /**
     * Copies of a clean forward's activations at {@code sites} and its logits, owned by {@code scope} (marked as
     * from the cache), or null unless every site is kept.
     */
    ForwardPass.Activations activations(int[] tokens, Set<String> sites, NDManager scope);

    /** Keeps copies of a clean forward's activations and logits. */
    void putActivations(int[] tokens, Map<String, NDArray> sites, NDArray logits);

    /** Whether one pair's clean side is kept (a look that counts as neither hit nor miss). */
    boolean holdsCleanSide(int[] tokens, AtPSide side);

    /** One pair's clean side as views owned by {@code scope}, or null. */
    PackedCleanSide cleanSide(int[] tokens, AtPSide side, NDManager scope);

    /** Keeps one pair's packed clean side; the store takes over its arrays. */
    void putCleanSide(int[] tokens, AtPSide side, PackedCleanSide packed);
}
