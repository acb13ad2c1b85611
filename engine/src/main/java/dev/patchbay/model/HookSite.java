package dev.patchbay.model;

/**
 * A hook site's name read once: its layer (-1 for the embeddings and the final stream), its leaf
 * ({@code hook_z}), its layout, and what its last axes hold on a given model. What was parsed from the name in
 * several places (a front end's unit counts and widths, the hook context's split inputs) is asked here.
 */
public record HookSite(String name, int layer, String leaf, SiteLayout layout) {
    /** {@code blocks.2.attn.hook_z}, {@code hook_embed}; the name is not checked against a model here. */
    public static HookSite of(String name) {
        String leaf = name.substring(name.lastIndexOf('.') + 1);
        int layer = -1;
        if (name.startsWith("blocks.")) {
            int end = name.indexOf('.', "blocks.".length());
            try {
                layer = Integer.parseInt(name.substring("blocks.".length(), end < 0 ? name.length() : end));
            } catch (NumberFormatException e) {
                layer = -1;
            }
        }
        return new HookSite(name, layer, leaf, HookSites.layoutOf(name));
    }

    /** A split input of a projection ({@code hook_q_input}): [T, heads, d_model], each head's own stream. */
    public boolean splitInput() {
        return leaf.endsWith("_input");
    }

    /** Whether its heads are key/value heads (fewer under grouped-query attention). */
    public boolean keyValueHeads() {
        return leaf.startsWith("hook_k") || leaf.startsWith("hook_v") || leaf.equals("hook_rot_k");
    }

    /** Its units on {@code c}: heads (key/value heads for keys and values), neurons, or 0 on the stream. */
    public int units(ModelConfig c) {
        return switch (layout) {
            case HEADS, ATTENTION_MAP -> keyValueHeads() ? c.nKvHeads() : c.nHeads();
            case NEURONS -> c.dMlp();
            case RESIDUAL -> 0;
        };
    }

    /** The length of its last axis on {@code c}; -1 for attention maps (as long as the sequence). */
    public long width(ModelConfig c) {
        return switch (layout) {
            case HEADS -> splitInput() ? c.dModel() : c.dHead();
            case NEURONS -> c.dMlp();
            case RESIDUAL -> c.dModel();
            case ATTENTION_MAP -> -1;
        };
    }
}
