package dev.patchbay.features;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Scoped;
import dev.patchbay.model.SiteLayout;
import java.util.Locale;
import java.util.Set;

/**
 * A sparse dictionary spliced into a model (issue 33): a sparse autoencoder, which reads and writes one hook site,
 * or a transcoder, which reads one site and writes another. Its features f = activation(x W_enc + b_enc) are
 * computed from the input site's value x (per position; a head-wise site such as {@code hook_z} read flattened,
 * heads first, as SAELens reshapes it), and decode to f W_dec + b_dec at its site.
 *
 * <p>Spliced, the site's value is decode(f) + error with error = value - decode(f), computed from the same run: the
 * model's value is left as it is (it is not recomputed from the sum, which would round), so its outputs are those
 * without the dictionary. Changing feature i by d changes the site by d W_dec[i] with every other feature and the
 * error held: that is the patch, and the gradient with respect to f_i is W_dec[i] . dMetric/d(site).
 *
 * @param name the name requests use
 * @param inputSite where x is read
 * @param site where the features decode to and where their nodes are named ({@code L6.resid_pre.f12})
 * @param encoder W_enc [inputWidth, width]
 * @param decoder W_dec [width, outputWidth]
 * @param threshold JumpReLU's per-feature threshold [width], else null
 * @param skip a skip transcoder's W_skip [outputWidth, inputWidth] (part of the reconstruction), else null
 * @param k TopK's k, else 0
 * @param subtractDecoderBias SAELens's apply_b_dec_to_input: x - b_dec is encoded (never for a transcoder)
 */
public record Dictionary(
        String name,
        String inputSite,
        String site,
        Activation activation,
        int k,
        boolean subtractDecoderBias,
        NDArray encoder,
        NDArray encoderBias,
        NDArray decoder,
        NDArray decoderBias,
        NDArray threshold,
        NDArray skip)
        implements AutoCloseable {

    /** What turns pre-activations into features. */
    public enum Activation {
        RELU,
        /** ReLU where the pre-activation exceeds the feature's threshold, else 0 */
        JUMP_RELU,
        /** the k largest pre-activations of a position, through a ReLU; every other feature 0 */
        TOP_K;

        public String id() {
            return name().toLowerCase(Locale.ROOT).replace("_", "");
        }
    }

    /** The sites a dictionary may write, by the short name its feature nodes carry. */
    static final Set<String> SHORT_SITES =
            Set.of("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "z", "mlp_post");

    public int width() {
        return (int) encoder.getShape().get(1);
    }

    public int inputWidth() {
        return (int) encoder.getShape().get(0);
    }

    public int outputWidth() {
        return (int) decoder.getShape().get(1);
    }

    public boolean isTranscoder() {
        return !inputSite.equals(site);
    }

    /** The layer of the site its features write. */
    public int layer() {
        return layerOf(site);
    }

    /** The short site name in its feature nodes' names: resid_pre, resid_mid, resid_post, attn_out, mlp_out, z, mlp_post. */
    public String shortSite() {
        return shortSite(site);
    }

    /** Features [..., width] of inputs [..., inputWidth] (a site's value flattened per position). */
    public NDArray encode(NDArray x) {
        NDArray in = subtractDecoderBias ? x.sub(decoderBias) : x;
        NDArray pre = in.matMul(encoder).add(encoderBias);
        return switch (activation) {
            case RELU -> pre.maximum(0);
            case JUMP_RELU -> pre.maximum(0).mul(pre.gt(threshold).toType(pre.getDataType(), false));
            case TOP_K -> {
                NDList top = pre.topK(k, -1, true, false);
                NDArray values = top.get(0).maximum(0);
                yield pre.zerosLike().scatter(top.get(1), values, -1);
            }
        };
    }

    /** The reconstruction [..., outputWidth] from features and the input they were encoded from. */
    public NDArray reconstruct(NDArray features, NDArray x) {
        NDArray out = features.matMul(decoder).add(decoderBias);
        return skip == null ? out : out.add(skipTerm(x));
    }

    /** A skip transcoder's skip term x W_skip^T [..., outputWidth]; only for a dictionary with {@link #skip()}. */
    public NDArray skipTerm(NDArray x) {
        return x.matMul(transposed(x.getManager(), skip));
    }

    /** W_dec transposed, [outputWidth, width], as a view {@code scope} owns (the weights' own manager lives long). */
    public NDArray decoderTransposed(NDManager scope) {
        return transposed(scope, decoder);
    }

    private static NDArray transposed(NDManager scope, NDArray weight) {
        return Scoped.view(scope, weight).transpose();
    }

    /** A site's value [B, T, ...] as the dictionary reads it, [B, T, width of a position]. */
    public static NDArray flat(NDArray value) {
        return value.getShape().dimension() == 3
                ? value
                : value.reshape(value.getShape().get(0), value.getShape().get(1), -1);
    }

    /** Every array moved to {@code manager} (a model's), which then owns them. */
    public Dictionary attachedTo(NDManager manager) {
        for (NDArray a : new NDArray[] {encoder, encoderBias, decoder, decoderBias, threshold, skip}) {
            if (a != null) {
                a.attach(manager);
            }
        }
        return this;
    }

    /**
     * The width of one position of {@code site} in a model of {@code config}, or -1 where a dictionary cannot read or
     * write it (attention maps, a head's query, key or value, a site the model does not have).
     */
    public static int siteWidth(ModelConfig config, Set<String> modelSites, String site) {
        if (!modelSites.contains(site)) {
            return -1;
        }
        if (site.endsWith(".attn.hook_z")) {
            return config.nHeads() * config.dHead();
        }
        SiteLayout layout = HookSites.layoutOf(site);
        return switch (layout) {
            case RESIDUAL -> site.startsWith("blocks.") ? config.dModel() : -1;
            case NEURONS -> site.endsWith(".mlp.hook_post") ? config.dMlp() : -1;
            default -> -1;
        };
    }

    /** The short name of a site a dictionary may write, or null. */
    public static String shortSite(String site) {
        int layer = layerOf(site);
        if (layer < 0) {
            return null;
        }
        String leaf = site.substring(("blocks." + layer + ".").length());
        String name = switch (leaf) {
            case "attn.hook_z" -> "z";
            case "mlp.hook_post" -> "mlp_post";
            default -> leaf.startsWith("hook_") ? leaf.substring("hook_".length()) : null;
        };
        return name != null && SHORT_SITES.contains(name) ? name : null;
    }

    /** The hook site of a short name in a layer ({@code resid_pre}, 6: {@code blocks.6.hook_resid_pre}). */
    public static String siteOf(int layer, String shortSite) {
        return switch (shortSite) {
            case "z" -> HookSites.attn(layer, "z");
            case "mlp_post" -> HookSites.mlp(layer, "post");
            default -> "blocks." + layer + ".hook_" + shortSite;
        };
    }

    private static int layerOf(String site) {
        if (!site.startsWith("blocks.")) {
            return -1;
        }
        int dot = site.indexOf('.', "blocks.".length());
        try {
            return dot < 0 ? -1 : Integer.parseInt(site.substring("blocks.".length(), dot));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    @Override
    public void close() {
        for (NDArray a : new NDArray[] {encoder, encoderBias, decoder, decoderBias, threshold, skip}) {
            if (a != null) {
                a.close();
            }
        }
    }
}
