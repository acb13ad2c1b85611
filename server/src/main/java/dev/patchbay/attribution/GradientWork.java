package dev.patchbay.attribution;

import java.util.List;

/**
 * A batch of pairs for the AtP family. Works with equal settings can run as one batch.
 *
 * @param qkFix queries and keys get the QK fix
 * @param gradDrop the per-pair scores are AtP*'s GradDrop sums (eq. 11), not signed estimates
 */
public record GradientWork(List<PromptPair> pairs, NodeSet nodes, boolean qkFix, boolean gradDrop) {
    /** Whether two works can share one batch. */
    public boolean compatible(GradientWork other) {
        return qkFix == other.qkFix && gradDrop == other.gradDrop && nodes.equals(other.nodes)
                && pairs.get(0).metric().kind() == other.pairs.get(0).metric().kind()
                && (!nodes.perPosition() || pairs.get(0).length() == other.pairs.get(0).length());
    }
}
