package dev.patchbay.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ModelConfig;
import java.nio.file.Path;
import java.util.Set;

/**
 * Reads a Hugging Face {@code config.json} into a {@link ModelConfig}. Accepts both the keys of released
 * checkpoints (e.g. Pythia's {@code rotary_pct}, {@code rotary_emb_base}; Llama's {@code rope_theta}) and
 * those transformers 5 writes ({@code rope_parameters}).
 */
public final class HfConfig {
    private static final Set<String> ACTIVATIONS =
            Set.of("gelu_new", "gelu_pytorch_tanh", "gelu", "silu", "relu", "linear");

    private final Path file;
    private final JsonObject json;

    private HfConfig(Path file, JsonObject json) {
        this.file = file;
        this.json = json;
    }

    public static ModelConfig read(Path dir) {
        Path file = dir.resolve("config.json");
        return new HfConfig(file, Json.read(file)).parse();
    }

    private ModelConfig parse() {
        String modelType = string("model_type");
        Architecture arch = Architecture.fromModelType(modelType)
                .orElseThrow(() -> new CheckpointException(
                        file,
                        "unknown architecture: model_type \"" + modelType + "\"; supported are gpt2, gpt_neox, llama"));
        try {
            return switch (arch) {
                case GPT2 -> gpt2();
                case GPT_NEOX -> neox();
                case LLAMA -> llama();
            };
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file, e.getMessage(), e);
        }
    }

    private ModelConfig gpt2() {
        int d = integer("n_embd");
        int heads = integer("n_head");
        int inner = isNull("n_inner") ? 4 * d : integer("n_inner");
        String act = activation("activation_function");
        int dHead = d / heads; // a whole number, as in transformers (embed_dim // num_heads)
        double scale = bool("scale_attn_weights", true) ? 1.0 / Math.sqrt(dHead) : 1.0;
        return new ModelConfig(
                Architecture.GPT2,
                integer("n_layer"),
                heads,
                heads,
                d,
                headDim(d, heads),
                inner,
                integer("vocab_size"),
                integer("n_positions"),
                number("layer_norm_epsilon", 1e-5),
                act,
                0,
                0,
                false,
                true,
                true,
                true,
                scale,
                bool("scale_attn_by_inverse_layer_idx", false),
                ModelConfig.Normalization.LAYER_NORM);
    }

    private ModelConfig neox() {
        int d = integer("hidden_size");
        int heads = integer("num_attention_heads");
        int dHead = headDim(d, heads);
        JsonObject rope = ropeParameters();
        double fraction = rope != null && rope.has("partial_rotary_factor")
                ? rope.get("partial_rotary_factor").getAsDouble()
                : number("rotary_pct", number("partial_rotary_factor", 1.0));
        double theta = rope != null && rope.has("rope_theta")
                ? rope.get("rope_theta").getAsDouble()
                : number("rotary_emb_base", number("rope_theta", 10000.0));
        return new ModelConfig(
                Architecture.GPT_NEOX,
                integer("num_hidden_layers"),
                heads,
                heads,
                d,
                dHead,
                integer("intermediate_size"),
                integer("vocab_size"),
                integer("max_position_embeddings"),
                number("layer_norm_eps", 1e-5),
                activation("hidden_act"),
                (int) (dHead * fraction),
                theta,
                bool("use_parallel_residual", true),
                bool("tie_word_embeddings", false),
                bool("attention_bias", true),
                true,
                1.0 / Math.sqrt(dHead),
                false,
                ModelConfig.Normalization.LAYER_NORM);
    }

    private ModelConfig llama() {
        int d = integer("hidden_size");
        int heads = integer("num_attention_heads");
        int dHead = isNull("head_dim") ? headDim(d, heads) : integer("head_dim");
        JsonObject rope = ropeParameters();
        double theta = rope != null && rope.has("rope_theta")
                ? rope.get("rope_theta").getAsDouble()
                : number("rope_theta", 10000.0);
        int kvHeads = isNull("num_key_value_heads") ? heads : integer("num_key_value_heads");
        return new ModelConfig(
                Architecture.LLAMA,
                integer("num_hidden_layers"),
                heads,
                kvHeads,
                d,
                dHead,
                integer("intermediate_size"),
                integer("vocab_size"),
                integer("max_position_embeddings"),
                number("rms_norm_eps", 1e-6),
                activation("hidden_act"),
                dHead,
                theta,
                false,
                bool("tie_word_embeddings", false),
                bool("attention_bias", false),
                bool("mlp_bias", false),
                1.0 / Math.sqrt(dHead),
                false,
                ModelConfig.Normalization.RMS_NORM);
    }

    /** The rope settings, refusing scaled variants whose frequencies this runtime would get wrong. */
    private JsonObject ropeParameters() {
        for (String key : new String[] {"rope_parameters", "rope_scaling"}) {
            if (!isNull(key)) {
                JsonObject rope = json.getAsJsonObject(key);
                JsonElement type = rope.has("rope_type") ? rope.get("rope_type") : rope.get("type");
                if (type != null && !type.getAsString().equals("default")) {
                    throw new CheckpointException(
                            file,
                            "unsupported " + key + ".rope_type \"" + type.getAsString()
                                    + "\"; only \"default\" rotary embedding is implemented");
                }
                if (key.equals("rope_parameters")) {
                    return rope;
                }
            }
        }
        return null;
    }

    private int headDim(int d, int heads) {
        if (d % heads != 0) {
            throw new CheckpointException(file, "hidden size " + d + " is not a multiple of the head count " + heads);
        }
        return d / heads;
    }

    private String activation(String key) {
        String act = string(key);
        if (!ACTIVATIONS.contains(act)) {
            throw new CheckpointException(
                    file, "unsupported " + key + " \"" + act + "\"; supported are " + ACTIVATIONS);
        }
        return act;
    }

    private boolean isNull(String key) {
        return !json.has(key) || json.get(key).isJsonNull();
    }

    private JsonElement required(String key) {
        if (isNull(key)) {
            throw new CheckpointException(file, "missing \"" + key + "\"");
        }
        return json.get(key);
    }

    private String string(String key) {
        try {
            return required(key).getAsString();
        } catch (UnsupportedOperationException | IllegalStateException e) {
            throw new CheckpointException(file, "\"" + key + "\" must be a string");
        }
    }

    private int integer(String key) {
        try {
            return required(key).getAsInt();
        } catch (NumberFormatException | UnsupportedOperationException | IllegalStateException e) {
            throw new CheckpointException(file, "\"" + key + "\" must be an integer, not " + json.get(key));
        }
    }

    private double number(String key, double fallback) {
        if (isNull(key)) {
            return fallback;
        }
        try {
            return json.get(key).getAsDouble();
        } catch (NumberFormatException | UnsupportedOperationException | IllegalStateException e) {
            throw new CheckpointException(file, "\"" + key + "\" must be a number, not " + json.get(key));
        }
    }

    private boolean bool(String key, boolean fallback) {
        if (isNull(key)) {
            return fallback;
        }
        return json.get(key).getAsBoolean();
    }
}
