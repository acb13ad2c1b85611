package dev.patchbay.passes;

/**
 * The gradient estimates of edge effects. EAP: (writer's change) . dMetric/d(reader's input) at the clean run.
 * EAP-IG: the same product with the gradient averaged over inputs interpolated between noise and clean. AtP* on
 * edges: EAP with the QK fix for edges into queries and keys and GradDrop's mean magnitude; the two repairs alone are
 * there to be checked separately.
 */
public enum EdgeEstimate {
    EAP(false, false, false),
    EAP_IG(false, false, true),
    EAP_QK_FIX(true, false, false),
    EAP_GRAD_DROP(false, true, false),
    ATP_STAR(true, true, false);

    private final boolean qkFix;
    private final boolean gradDrop;
    private final boolean integrated;

    EdgeEstimate(boolean qkFix, boolean gradDrop, boolean integrated) {
        this.qkFix = qkFix;
        this.gradDrop = gradDrop;
        this.integrated = integrated;
    }

    public boolean qkFix() {
        return qkFix;
    }

    public boolean gradDrop() {
        return gradDrop;
    }

    public boolean integrated() {
        return integrated;
    }

    /** Whether the estimate is a magnitude (GradDrop's mean |.|) rather than signed. */
    public boolean unsigned() {
        return gradDrop;
    }
}
