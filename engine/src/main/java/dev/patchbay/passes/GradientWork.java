package dev.patchbay.passes;

import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.List;

/**
 * A batch of pairs for the AtP family. Works with equal settings can run as one batch.
 *
 * @param sums empty for every pair's own estimates; otherwise the pairs fall into consecutive groups of these
 *     sizes, and only each group's sum of |estimate| per node is needed (a distribution's mean |effect|, eq. 5):
 *     it is summed on the device and only the sums are read back, not every pair's estimates
 */
public record GradientWork(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant, List<Integer> sums) {
    public GradientWork {
        pairs = List.copyOf(pairs);
        sums = List.copyOf(sums);
        if (!sums.isEmpty() && sums.stream().mapToInt(Integer::intValue).sum() != pairs.size()) {
            throw new IllegalArgumentException("sums " + sums + " do not cover " + pairs.size() + " pairs");
        }
    }

    /** Every pair's own estimates. */
    public GradientWork(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant) {
        this(pairs, nodes, variant, List.of());
    }

    /** Only the sum of |estimate| over all of {@code pairs}, per node. */
    public static GradientWork summed(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant) {
        return new GradientWork(pairs, nodes, variant, List.of(pairs.size()));
    }

    /** Whether only sums of |estimate| are needed. */
    public boolean isSummed() {
        return !sums.isEmpty();
    }

    /** Whether the pass prepares the QK fix: its variant has it and the nodes include queries or keys. */
    public boolean needsQkFix() {
        return variant.qkFix() && nodes.hasQueriesOrKeys();
    }

    /** Whether two works can share one batch. */
    public boolean compatible(GradientWork other) {
        return variant == other.variant
                && isSummed() == other.isSummed()
                && nodes.equals(other.nodes)
                && pairs.get(0).metric().kind() == other.pairs.get(0).metric().kind()
                && (!nodes.perPosition()
                        || pairs.get(0).length() == other.pairs.get(0).length());
    }
}
