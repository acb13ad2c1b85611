package dev.patchbay.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.patchbay.features.Dictionary;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * A sparse dictionary saved in the SAELens layout: {@code cfg.json} and {@code sae_weights.safetensors} with
 * {@code W_enc} [d_in, d_sae], {@code b_enc} [d_sae], {@code W_dec} [d_sae, d_out], {@code b_dec} [d_out], JumpReLU's
 * {@code threshold} [d_sae] and a skip transcoder's {@code W_skip} [d_out, d_in].
 *
 * <p>Read from cfg.json: {@code architecture} (standard, jumprelu, topk with {@code k}, transcoder,
 * jumprelu_transcoder, skip_transcoder; or the older {@code activation_fn_str} relu/topk with
 * {@code activation_fn_kwargs.k}), {@code d_in}, {@code d_sae}, {@code d_out} (transcoders),
 * {@code apply_b_dec_to_input}, {@code normalize_activations}, {@code reshape_activations}, and the hook names
 * ({@code metadata.hook_name}, {@code meta.hook_name} or {@code hook_name}; {@code hook_name_out} for a transcoder).
 * A normalisation other than "none" is refused: under it a feature's write depends on the run's own norm, so patching
 * features and the error no longer adds up to patching the site (SAELens folds a constant scaling factor into the
 * weights with {@code fold_activation_norm_scaling_factor}; do that first). Gated SAEs are refused too.
 *
 * <p>Every failure is a {@link CheckpointException} naming the file and the field or tensor at fault.
 */
public final class SaeLensDictionary {
    public static final String CONFIG = "cfg.json";
    public static final String WEIGHTS = "sae_weights.safetensors";

    private SaeLensDictionary() {}

    /**
     * Loads the dictionary in {@code dir} for a model of {@code config} whose hook sites are {@code modelSites}, in
     * {@code computeType}, into {@code manager}.
     *
     * @param site where its features are spliced (an SAE's site, a transcoder's output), or null to take it from
     *     cfg.json; where both are given they must agree
     */
    public static Dictionary load(
            String name,
            Path dir,
            String site,
            ModelConfig config,
            Set<String> modelSites,
            NDManager manager,
            DataType computeType) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(
                    dir, "not a directory (expected a SAELens dictionary: cfg.json and " + WEIGHTS + ")");
        }
        Path cfgFile = dir.resolve(CONFIG);
        JsonObject cfg = Json.read(cfgFile);
        Settings s = settings(cfgFile, cfg, site);
        checkSite(cfgFile, "input site", s.inputSite, s.dIn, config, modelSites);
        checkSite(cfgFile, "site", s.site, s.dOut, config, modelSites);
        if (Dictionary.shortSite(s.site) == null) {
            throw new CheckpointException(
                    cfgFile,
                    "a dictionary's features cannot be spliced at " + s.site
                            + "; sites: blocks.L.hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out,"
                            + " hook_mlp_out, attn.hook_z, mlp.hook_post");
        }
        List<String> order = HookSites.all(config);
        if (order.indexOf(s.inputSite) > order.indexOf(s.site)) {
            throw new CheckpointException(
                    cfgFile,
                    "transcoder reads " + s.inputSite + ", which the model computes" + " after the site it writes, "
                            + s.site);
        }
        if (s.reshapeHeads && !s.inputSite.endsWith(".attn.hook_z")) {
            throw new CheckpointException(
                    cfgFile, "reshape_activations \"hook_z\" at " + s.inputSite + ", which is not an attn.hook_z site");
        }
        Path weightsFile = dir.resolve(WEIGHTS);
        if (!Files.exists(weightsFile)) {
            throw new CheckpointException(weightsFile, "file not found (a SAELens dictionary keeps its weights here)");
        }
        SafetensorsFile weights = SafetensorsFile.open(weightsFile);
        try (NDManager loading = manager.newSubManager()) {
            NDArray encoder = tensor(weights, loading, "W_enc", computeType, s.dIn, s.width);
            NDArray encoderBias = tensor(weights, loading, "b_enc", computeType, s.width);
            NDArray decoder = tensor(weights, loading, "W_dec", computeType, s.width, s.dOut);
            NDArray decoderBias = tensor(weights, loading, "b_dec", computeType, s.dOut);
            NDArray threshold = s.activation == Dictionary.Activation.JUMP_RELU
                    ? tensor(weights, loading, "threshold", computeType, s.width)
                    : null;
            NDArray skip = s.skip ? tensor(weights, loading, "W_skip", computeType, s.dOut, s.dIn) : null;
            Dictionary d = new Dictionary(
                    name,
                    s.inputSite,
                    s.site,
                    s.activation,
                    s.k,
                    s.subtractDecoderBias,
                    encoder,
                    encoderBias,
                    decoder,
                    decoderBias,
                    threshold,
                    skip);
            return d.attachedTo(manager);
        }
    }

    private record Settings(
            String inputSite,
            String site,
            int dIn,
            int dOut,
            int width,
            Dictionary.Activation activation,
            int k,
            boolean subtractDecoderBias,
            boolean reshapeHeads,
            boolean skip) {}

    private static Settings settings(Path file, JsonObject cfg, String givenSite) {
        String architecture = string(cfg, "architecture");
        String legacy = string(cfg, "activation_fn_str");
        if (architecture == null) {
            architecture = "topk".equals(legacy) ? "topk" : "standard";
        }
        boolean transcoder = architecture.endsWith("transcoder");
        Dictionary.Activation activation = switch (architecture) {
            case "standard", "transcoder", "skip_transcoder" ->
                "topk".equals(legacy) ? Dictionary.Activation.TOP_K : Dictionary.Activation.RELU;
            case "jumprelu", "jumprelu_transcoder" -> Dictionary.Activation.JUMP_RELU;
            case "topk" -> Dictionary.Activation.TOP_K;
            default ->
                throw new CheckpointException(
                        file,
                        "architecture \"" + architecture + "\" is not supported"
                                + " (standard, jumprelu, topk, transcoder, jumprelu_transcoder, skip_transcoder)");
        };
        if (legacy != null && !legacy.equals("relu") && !legacy.equals("topk")) {
            throw new CheckpointException(file, "activation_fn_str \"" + legacy + "\" is not supported (relu, topk)");
        }
        String normalize = string(cfg, "normalize_activations");
        if (normalize != null && !normalize.equals("none")) {
            throw new CheckpointException(
                    file,
                    "normalize_activations \"" + normalize + "\" is not supported: only"
                            + " \"none\" keeps a feature's write independent of the run (fold a constant scaling factor"
                            + " into the weights first, as SAELens's fold_activation_norm_scaling_factor does)");
        }
        String reshape = string(cfg, "reshape_activations");
        if (reshape != null && !reshape.equals("none") && !reshape.equals("hook_z")) {
            throw new CheckpointException(
                    file, "reshape_activations \"" + reshape + "\" is not supported (none," + " hook_z)");
        }
        int dIn = positive(file, cfg, "d_in");
        int width = positive(file, cfg, "d_sae");
        int dOut = transcoder && cfg.has("d_out") ? positive(file, cfg, "d_out") : dIn;
        int k = 0;
        if (activation == Dictionary.Activation.TOP_K) {
            JsonObject kwargs = cfg.has("activation_fn_kwargs")
                            && cfg.get("activation_fn_kwargs").isJsonObject()
                    ? cfg.getAsJsonObject("activation_fn_kwargs")
                    : null;
            k = cfg.has("k") ? positive(file, cfg, "k") : kwargs != null ? positive(file, kwargs, "k") : -1;
            if (k < 1 || k > width) {
                throw new CheckpointException(file, "k: a TopK dictionary needs 1 <= k <= d_sae (" + width + ")");
            }
        }
        String hookIn = hookName(cfg);
        String hookOut = transcoder ? string(cfg, "hook_name_out") : hookIn;
        if (hookOut == null && givenSite == null) {
            throw new CheckpointException(
                    file, (transcoder ? "hook_name_out" : "hook_name") + ": no site named; give one (NAME=DIR@SITE)");
        }
        if (hookOut != null && givenSite != null && !hookOut.equals(givenSite)) {
            throw new CheckpointException(
                    file, "the dictionary was trained at " + hookOut + ", not at the site given," + " " + givenSite);
        }
        String site = givenSite != null ? givenSite : hookOut;
        String inputSite = transcoder ? hookIn : site;
        if (inputSite == null) {
            throw new CheckpointException(file, "hook_name: a transcoder must name the site it reads");
        }
        boolean subtract = !transcoder && bool(file, cfg, "apply_b_dec_to_input", true);
        return new Settings(
                inputSite,
                site,
                dIn,
                dOut,
                width,
                activation,
                k,
                subtract,
                "hook_z".equals(reshape),
                architecture.equals("skip_transcoder"));
    }

    private static void checkSite(Path file, String what, String site, int width, ModelConfig config, Set<String> all) {
        int actual = Dictionary.siteWidth(config, all, site);
        if (actual < 0) {
            throw new CheckpointException(
                    file,
                    what + " " + site + ": "
                            + (all.contains(site)
                                    ? "a dictionary reads and writes only the residual stream, attention and MLP outputs, hook_mlp_in,"
                                            + " attn.hook_z (flattened) and mlp.hook_post"
                                    : "the model has no such site"));
        }
        if (actual != width) {
            throw new CheckpointException(
                    file,
                    what + " " + site + " has width " + actual + " in this model, but the" + " dictionary's is "
                            + width);
        }
    }

    private static NDArray tensor(
            SafetensorsFile weights, NDManager manager, String name, DataType computeType, long... shape) {
        var info = weights.tensors().get(name);
        if (info == null) {
            throw new CheckpointException(weights.path(), "missing tensor '" + name + "'");
        }
        if (!Arrays.equals(info.shape(), shape)) {
            throw new CheckpointException(
                    weights.path(),
                    "tensor '" + name + "' has shape " + new Shape(info.shape()) + " but cfg.json implies "
                            + new Shape(shape));
        }
        if (!Set.of("F32", "F64", "F16", "BF16").contains(info.dtype())) {
            throw new CheckpointException(
                    weights.path(),
                    "tensor '" + name + "' is " + info.dtype()
                            + "; a dictionary's weights are floating point (F32, F64, F16, BF16)");
        }
        NDArray a = weights.load(manager, name, computeType);
        if (a.isNaN().any().getBoolean() || a.isInfinite().any().getBoolean()) {
            throw new CheckpointException(weights.path(), "tensor '" + name + "' holds NaN or infinite values");
        }
        return a;
    }

    private static String hookName(JsonObject cfg) {
        for (String holder : new String[] {"metadata", "meta"}) {
            if (cfg.has(holder) && cfg.get(holder).isJsonObject()) {
                String name = string(cfg.getAsJsonObject(holder), "hook_name");
                if (name != null) {
                    return name;
                }
            }
        }
        return string(cfg, "hook_name");
    }

    private static String string(JsonObject o, String field) {
        JsonElement e = o.get(field);
        return e == null || e.isJsonNull() || !e.isJsonPrimitive() ? null : e.getAsString();
    }

    private static int positive(Path file, JsonObject o, String field) {
        JsonElement e = o.get(field);
        try {
            if (e != null && e.isJsonPrimitive()) {
                double v = e.getAsDouble();
                if (v >= 1 && v == Math.rint(v) && v <= Integer.MAX_VALUE) {
                    return (int) v;
                }
            }
        } catch (NumberFormatException ignored) {
            // falls through to the error below
        }
        throw new CheckpointException(
                file, field + ": " + (e == null ? "missing" : e + " is not") + " a positive" + " whole number");
    }

    private static boolean bool(Path file, JsonObject o, String field, boolean fallback) {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw new CheckpointException(file, field + ": " + e + " is not true or false");
        }
        return e.getAsBoolean();
    }
}
