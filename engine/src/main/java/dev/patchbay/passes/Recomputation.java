package dev.patchbay.passes;

/** How an AtP-family pass holds its layers for the backward: the plan's choice, from the memory budget. */
public enum Recomputation {
    /** Every layer's graph kept: the plain pass ({@link GradientWork}). */
    NONE,
    /** One layer at a time, run again ({@link LayerwiseGradientWork}); the QK fix's tables made at each read. */
    PER_LAYER,
    /**
     * One layer at a time, with the layer's QK-fix tables kept for its reads: GradDrop reads a layer once per variant,
     * and making the tables each time took AtP* 5x the plain pass's time on the GPT-2-small shape at 1,024 tokens.
     * Seven float64 heads x T x T tables more, for one layer.
     */
    PER_LAYER_KEEPING_QK_TABLES;

    /** Whether layers are recomputed one at a time. */
    public boolean perLayer() {
        return this != NONE;
    }
}
