package dev.patchbay.nodes;

import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;

/**
 * What a node is: one unit (a head, a key/value head, a neuron, or the whole layer output) of one hook site
 * in one layer, at one position or over all positions.
 */
public enum NodeKind {
    /** a head's query (AttentionNodes) */
    QUERY("q"),
    /** a key/value head's key (AttentionNodes; per key/value head under grouped-query attention) */
    KEY("k"),
    /** a key/value head's value (AttentionNodes) */
    VALUE("v"),
    /** a head's output z = sum_s A_ts v_s, i.e. its write to the residual stream (AttentionNodes) */
    HEAD_OUTPUT("z"),
    /** an MLP neuron after its nonlinearity, the input to the output projection (NeuronNodes) */
    NEURON("post"),
    /** a layer's whole attention output */
    ATTN_OUT("attn_out"),
    /** a layer's whole MLP output */
    MLP_OUT("mlp_out"),
    /** the residual stream entering a layer */
    RESIDUAL("resid_pre");

    private final String id;

    NodeKind(String id) {
        this.id = id;
    }

    /** The short name used in node names and the schema: q, k, v, z, post, attn_out, mlp_out, resid_pre. */
    public String id() {
        return id;
    }

    /** The hook site whose activation a node of this kind patches. */
    public String site(int layer) {
        return switch (this) {
            case QUERY -> HookSites.attn(layer, "q");
            case KEY -> HookSites.attn(layer, "k");
            case VALUE -> HookSites.attn(layer, "v");
            case HEAD_OUTPUT -> HookSites.attn(layer, "z");
            case NEURON -> HookSites.mlp(layer, "post");
            case ATTN_OUT -> HookSites.attnOut(layer);
            case MLP_OUT -> HookSites.mlpOut(layer);
            case RESIDUAL -> HookSites.residPre(layer);
        };
    }

    /** Units per layer: heads, key/value heads, neurons, or 1 for a whole layer output. */
    public int units(ModelConfig config) {
        return switch (this) {
            case QUERY, HEAD_OUTPUT -> config.nHeads();
            case KEY, VALUE -> config.nKvHeads();
            case NEURON -> config.dMlp();
            case ATTN_OUT, MLP_OUT, RESIDUAL -> 1;
        };
    }

    /** Whether the node patches a slice of its site (one head or neuron) rather than the whole of it. */
    public boolean hasUnits() {
        return switch (this) {
            case ATTN_OUT, MLP_OUT, RESIDUAL -> false;
            default -> true;
        };
    }
}
