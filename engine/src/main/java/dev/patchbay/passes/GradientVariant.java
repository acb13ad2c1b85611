package dev.patchbay.passes;

/**
 * Which of the AtP family's gradient passes a batch runs. One value instead of a flag per repair, so a new
 * gradient method (edge attribution, integrated gradients) is a new constant and a branch in the estimator,
 * not another boolean through every hop.
 */
public enum GradientVariant {
    /** Attribution patching: signed first-order estimates (eq. 4). */
    ATP(false, false),
    /** AtP with queries and keys scored by recomputing the attention softmax (eqs. 6-10). */
    ATP_QK_FIX(true, false),
    /** AtP*: the QK fix and GradDrop; per-pair scores are GradDrop sums of absolute values (eq. 11). */
    ATP_STAR(true, true);

    private final boolean qkFix;
    private final boolean gradDrop;

    GradientVariant(boolean qkFix, boolean gradDrop) {
        this.qkFix = qkFix;
        this.gradDrop = gradDrop;
    }

    /** Whether query and key nodes get the QK fix. */
    public boolean qkFix() {
        return qkFix;
    }

    /** Whether the scores are GradDrop sums, which need the clean run's live graph (so no cached clean side). */
    public boolean gradDrop() {
        return gradDrop;
    }

    /** Whether a single pair's estimates are signed (the GradDrop sums are absolute values). */
    public boolean signed() {
        return !gradDrop;
    }
}
