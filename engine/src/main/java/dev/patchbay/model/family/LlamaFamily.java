package dev.patchbay.model.family;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ConfigValues;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.LayerAttention;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.RopeConfig;
import dev.patchbay.model.RopeParameters;
import dev.patchbay.model.Weights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Llama-shaped families, which run {@link LlamaBlock} and name their weights alike. What sets each apart
 * is in {@link Variant}: biases, Qwen 3's per-head query and key norms, sliding windows, and Phi-3's fused
 * projections. Rotary scaling (llama3, linear, dynamic) and partial rotary are read the same way for all.
 */
final class LlamaFamily implements ArchitectureFamily {
    enum Variant {
        /** Llama 2 and 3.x: biases only where attention_bias and mlp_bias say. */
        LLAMA,
        /** Mistral: Llama with a sliding window over every layer when sliding_window is set. */
        MISTRAL,
        /** Qwen 2 and 2.5: q, k and v biases, none on the output; windows only with use_sliding_window. */
        QWEN2,
        /** Qwen 3: RMSNorm on each head's query and key before rotary; windows as Qwen 2. */
        QWEN3,
        /** Phi-3: fused qkv_proj and gate_up_proj, a sliding window when set, partial rotary. */
        PHI3
    }

    private final Variant variant;

    LlamaFamily(Variant variant) {
        this.variant = variant;
    }

    @Override
    public ModelConfig config(Architecture architecture, ConfigValues c) {
        int d = c.integer("hidden_size");
        int heads = c.integer("num_attention_heads");
        int layers = c.integer("num_hidden_layers");
        int dHead = c.has("head_dim") ? c.integer("head_dim") : c.headDim(d, heads);
        RopeParameters rope = RopeConfig.read(c, 10000.0);
        int[] windows = windows(c, layers);
        List<LayerAttention> attention = new ArrayList<>();
        for (int window : windows) {
            attention.add(new LayerAttention(window, rope));
        }
        boolean attentionBias = switch (variant) {
            case LLAMA, QWEN3 -> c.bool("attention_bias", false);
            case QWEN2 -> true;
            case MISTRAL, PHI3 -> false;
        };
        return ModelConfig.builder(architecture)
                .nLayers(layers)
                .nHeads(heads)
                .nKvHeads(c.integer("num_key_value_heads", heads))
                .dModel(d)
                .dHead(dHead)
                .dMlp(c.integer("intermediate_size"))
                .vocabSize(c.integer("vocab_size"))
                .maxPositions(c.integer("max_position_embeddings"))
                .normEps(c.number("rms_norm_eps", 1e-6))
                .activation(c.activation("hidden_act"))
                .rotaryDim(rotaryDim(c, dHead))
                .ropeTheta(rope.theta())
                .tiedEmbeddings(c.bool("tie_word_embeddings", false))
                .attentionBias(attentionBias)
                .mlpBias(variant == Variant.LLAMA && c.bool("mlp_bias", false))
                .attnScale(1.0 / Math.sqrt(dHead))
                .normalization(ModelConfig.Normalization.RMS_NORM)
                .layers(attention)
                .build();
    }

    /** Rotary dimensions: all of each head, or partial_rotary_factor of it (Phi-3 and others may set it). */
    static int rotaryDim(ConfigValues c, int dHead) {
        ConfigValues section = RopeConfig.section(c);
        double fraction = section != null && section.has("partial_rotary_factor")
                ? section.number("partial_rotary_factor", 1.0)
                : c.number("partial_rotary_factor", 1.0);
        if (!(fraction > 0 && fraction <= 1)) {
            throw c.invalid("partial_rotary_factor must be in (0, 1], not " + fraction);
        }
        return (int) (dHead * fraction);
    }

    private int[] windows(ConfigValues c, int layers) {
        return switch (variant) {
            case LLAMA -> new int[layers];
            // transformers' Mistral and Phi-3 window every layer when sliding_window is set, whatever else says.
            case MISTRAL, PHI3 -> {
                int[] all = new int[layers];
                Arrays.fill(all, c.integer("sliding_window", 0));
                yield all;
            }
            case QWEN2, QWEN3 -> {
                int window = c.bool("use_sliding_window", false) ? c.integer("sliding_window", 0) : 0;
                int firstWindowed = c.integer("max_window_layers", layers);
                yield c.slidingWindows(layers, window, l -> window > 0 && l >= firstWindowed);
            }
        };
    }

    @Override
    public HookedTransformer build(ModelConfig config, Weights checkpoint, NDManager manager) {
        Weights w = variant == Variant.PHI3 ? new UnfusedPhi3(checkpoint, config) : checkpoint;
        LlamaBlock.Layout layout = new LlamaBlock.Layout(
                config.attentionBias(), config.attentionBias() && variant != Variant.QWEN2, variant == Variant.QWEN3);
        return LlamaLayout.assemble(
                config,
                w,
                manager,
                l -> LlamaBlock.load(config, l, w, layout),
                w.get("model.norm.weight", config.dModel()));
    }

    /**
     * Phi-3's checkpoints fuse q, k and v into qkv_proj (rows in that order) and gate and up into gate_up_proj;
     * this serves them under Llama's names as row slices (views: each fused tensor is read once).
     */
    private static final class UnfusedPhi3 implements Weights {
        private static final Pattern SPLIT =
                Pattern.compile("(model\\.layers\\.\\d+\\.)(self_attn\\.([qkv])_proj|mlp\\.(gate|up)_proj)\\.weight");

        private final Weights fused;
        private final ModelConfig config;
        private final Map<String, NDArray> read = new HashMap<>();

        UnfusedPhi3(Weights fused, ModelConfig config) {
            this.fused = fused;
            this.config = config;
        }

        @Override
        public NDArray get(String name, long... shape) {
            Matcher m = SPLIT.matcher(name);
            if (!m.matches()) {
                return fused.get(name, shape);
            }
            long d = config.dModel();
            long q = (long) config.nHeads() * config.dHead();
            long kv = (long) config.nKvHeads() * config.dHead();
            long mlp = config.dMlp();
            long start;
            long rows;
            String whole;
            if (m.group(3) != null) {
                whole = m.group(1) + "self_attn.qkv_proj.weight";
                start = switch (m.group(3)) {
                    case "q" -> 0;
                    case "k" -> q;
                    default -> q + kv;
                };
                rows = m.group(3).equals("q") ? q : kv;
                read.computeIfAbsent(whole, n -> fused.get(n, q + 2 * kv, d));
            } else {
                whole = m.group(1) + "mlp.gate_up_proj.weight";
                start = m.group(4).equals("gate") ? 0 : mlp;
                rows = mlp;
                read.computeIfAbsent(whole, n -> fused.get(n, 2 * mlp, d));
            }
            return read.get(whole).get(new NDIndex("{}:{}", start, start + rows));
        }

        @Override
        public boolean has(String name) {
            return fused.has(name);
        }
    }
}
