package dev.patchbay.features;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A node of a dictionary spliced into a model: one feature, or the dictionary's error term, at a site of a layer, at
 * one position or over all positions ({@code position} -1). Named in the grammar of proto/NODE-NAMES.md:
 * {@code L6.resid_pre.f1234} (feature 1234 of the dictionary at blocks.6.hook_resid_pre, all positions),
 * {@code L6.resid_pre.f1234@7} (at position 7), {@code L6.resid_pre.err@7} (its error term at position 7).
 *
 * @param site the site's short name: resid_pre, resid_mid, resid_post, attn_out, mlp_out, z (attn.hook_z) or
 *     mlp_post (mlp.hook_post)
 * @param feature the feature's index, or {@link #ERROR} for the error term
 */
public record FeatureNode(int layer, String site, int feature, int position) {
    /** The feature index of an error node. */
    public static final int ERROR = -1;

    private static final String NUMBER = "(0|[1-9][0-9]*)";
    private static final Pattern NAME =
            Pattern.compile("L" + NUMBER + "\\.(resid_pre|resid_mid|resid_post|attn_out|mlp_out|z|mlp_post)\\.(?:f"
                    + NUMBER + "|(err))(?:@" + NUMBER + ")?");

    public FeatureNode {
        if (!Dictionary.SHORT_SITES.contains(site)) {
            throw new IllegalArgumentException("not a dictionary site: '" + site + "'");
        }
        if (layer < 0 || feature < ERROR || position < -1) {
            throw new IllegalArgumentException(
                    "feature node L" + layer + "." + site + " f" + feature + " @" + position);
        }
    }

    /**
     * Parses a feature node's name; whether its layer, site, feature and position exist is the model's and its
     * dictionaries' to say.
     *
     * @throws IllegalArgumentException naming the text if it is not a feature node's name
     */
    public static FeatureNode parse(String name) {
        Matcher m = NAME.matcher(name);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a feature node name: '" + name + "' (see proto/NODE-NAMES.md)");
        }
        try {
            int layer = Integer.parseInt(m.group(1));
            int feature = m.group(4) != null ? ERROR : Integer.parseInt(m.group(3));
            int position = m.group(5) == null ? -1 : Integer.parseInt(m.group(5));
            return new FeatureNode(layer, m.group(2), feature, position);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a feature node name: '" + name + "' (a number is too large)", e);
        }
    }

    public boolean isError() {
        return feature == ERROR;
    }

    /** The hook site whose value the node is part of. */
    public String hookSite() {
        return Dictionary.siteOf(layer, site);
    }

    /** The canonical name, which {@link #parse} reads back to this node. */
    public String name() {
        return "L" + layer + "." + site + "." + (isError() ? "err" : "f" + feature)
                + (position < 0 ? "" : "@" + position);
    }

    @Override
    public String toString() {
        return name();
    }
}
