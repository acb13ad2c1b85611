package dev.patchbay.passes;

import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.List;

/**
 * A batch of pairs for the AtP family. Works with equal settings can run as one batch.
 */
public record GradientWork(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant) {
    /** Whether the pass prepares the QK fix: its variant has it and the nodes include queries or keys. */
    public boolean needsQkFix() {
        return variant.qkFix() && nodes.hasQueriesOrKeys();
    }

    /** Whether two works can share one batch. */
    public boolean compatible(GradientWork other) {
        return variant == other.variant
                && nodes.equals(other.nodes)
                && pairs.get(0).metric().kind() == other.pairs.get(0).metric().kind()
                && (!nodes.perPosition()
                        || pairs.get(0).length() == other.pairs.get(0).length());
    }
}
