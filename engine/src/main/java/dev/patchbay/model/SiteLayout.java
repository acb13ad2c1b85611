package dev.patchbay.model;

/**
 * How a hook site's tensor is laid out: which axis is the token position and which (if any) indexes the
 * units one patches separately (heads or neurons). Axis 0 is always the batch row.
 */
public enum SiteLayout {
    /** [batch, pos, d_model]: residual stream, embeddings, attention and MLP outputs. */
    RESIDUAL(1, -1),
    /** [batch, pos, head, d_head]: q, k, v and z, per head as TransformerLens has them. */
    HEADS(1, 2),
    /** [batch, pos, d_mlp]: MLP pre- and post-activation, per neuron. */
    NEURONS(1, 2),
    /** [batch, head, query_pos, key_pos]: attention scores and pattern; positions are query positions. */
    ATTENTION_MAP(2, 1);

    private final int positionAxis;
    private final int unitAxis;

    SiteLayout(int positionAxis, int unitAxis) {
        this.positionAxis = positionAxis;
        this.unitAxis = unitAxis;
    }

    public int positionAxis() {
        return positionAxis;
    }

    /** The axis of heads or neurons, or -1 where the site has no separate units. */
    public int unitAxis() {
        return unitAxis;
    }
}
