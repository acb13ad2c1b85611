package dev.patchbay.model;

import java.util.ArrayList;
import java.util.List;

/**
 * Hook site names, spelled as TransformerLens spells them because researchers already know them:
 * {@code hook_embed}, {@code blocks.3.attn.hook_z}, {@code blocks.3.mlp.hook_post}, {@code ln_final.hook_normalized}.
 */
public final class HookSites {
    public static final String EMBED = "hook_embed";
    public static final String POS_EMBED = "hook_pos_embed";
    public static final String FINAL_NORMALIZED = "ln_final.hook_normalized";

    private HookSites() {}

    public static String residPre(int layer) {
        return block(layer, "hook_resid_pre");
    }

    public static String residMid(int layer) {
        return block(layer, "hook_resid_mid");
    }

    public static String residPost(int layer) {
        return block(layer, "hook_resid_post");
    }

    public static String attnOut(int layer) {
        return block(layer, "hook_attn_out");
    }

    public static String mlpOut(int layer) {
        return block(layer, "hook_mlp_out");
    }

    /**
     * Head {@code h}'s private copy of the residual stream that its query, key or value projection reads
     * ({@code qkv} is "q", "k" or "v"): TransformerLens's split inputs, [B, T, heads, d_model] (key/value heads for
     * "k" and "v"). An edge into one head's query changes that copy alone. A forward computes these only where its
     * hooks name them; otherwise every head reads the shared stream at no extra cost.
     */
    public static String headInput(int layer, String qkv) {
        return block(layer, "hook_" + qkv + "_input");
    }

    /** The MLP's private copy of the residual stream it reads (before its norm), [B, T, d_model]. */
    public static String mlpIn(int layer) {
        return block(layer, "hook_mlp_in");
    }

    /** An attention site: q, k, v, q_normed, k_normed, rot_q, rot_k, attn_scores, pattern or z. */
    public static String attn(int layer, String name) {
        return block(layer, "attn.hook_" + name);
    }

    /** An MLP site: pre, pre_linear (gated MLPs) or post. */
    public static String mlp(int layer, String name) {
        return block(layer, "mlp.hook_" + name);
    }

    private static String block(int layer, String site) {
        return "blocks." + layer + "." + site;
    }

    /** Every site a model of this configuration has, in the order a forward pass reaches them. */
    public static List<String> all(ModelConfig config) {
        List<String> sites = new ArrayList<>();
        sites.add(EMBED);
        if (config.learnedPositions()) {
            sites.add(POS_EMBED);
        }
        boolean rotary = config.rotaryDim() > 0;
        boolean gated = config.gatedMlp();
        boolean headNorms = config.architecture().normsHeadsOfQueriesAndKeys();
        for (int l = 0; l < config.nLayers(); l++) {
            sites.add(residPre(l));
            for (String s : new String[] {"q", "k", "v"}) {
                sites.add(headInput(l, s));
            }
            for (String s : new String[] {"q", "k", "v"}) {
                sites.add(attn(l, s));
            }
            if (headNorms) {
                sites.add(attn(l, "q_normed"));
                sites.add(attn(l, "k_normed"));
            }
            if (rotary) {
                sites.add(attn(l, "rot_q"));
                sites.add(attn(l, "rot_k"));
            }
            for (String s : new String[] {"attn_scores", "pattern", "z"}) {
                sites.add(attn(l, s));
            }
            sites.add(attnOut(l));
            if (!config.parallelResidual()) {
                sites.add(residMid(l));
            }
            sites.add(mlpIn(l));
            sites.add(mlp(l, "pre"));
            if (gated) {
                sites.add(mlp(l, "pre_linear"));
            }
            sites.add(mlp(l, "post"));
            sites.add(mlpOut(l));
            sites.add(residPost(l));
        }
        sites.add(FINAL_NORMALIZED);
        return sites;
    }

    /** The layout of a site's tensor, from its name. */
    public static SiteLayout layoutOf(String site) {
        int dot = site.lastIndexOf('.');
        String leaf = site.substring(dot + 1);
        return switch (leaf) {
            case "hook_q",
                    "hook_k",
                    "hook_v",
                    "hook_z",
                    "hook_q_input",
                    "hook_k_input",
                    "hook_v_input",
                    "hook_q_normed",
                    "hook_k_normed",
                    "hook_rot_q",
                    "hook_rot_k" -> SiteLayout.HEADS;
            case "hook_attn_scores", "hook_pattern" -> SiteLayout.ATTENTION_MAP;
            case "hook_pre", "hook_post", "hook_pre_linear" -> SiteLayout.NEURONS;
            default -> SiteLayout.RESIDUAL;
        };
    }
}
