package dev.patchbay.model.family;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ConfigValues;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.LayerAttention;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.RopeConfig;
import dev.patchbay.model.RopeParameters;
import dev.patchbay.model.Scalars;
import dev.patchbay.model.Weights;
import java.util.ArrayList;
import java.util.List;

/**
 * Gemma 2 and Gemma 3 text models ({@link GemmaBlock}): embeddings scaled by sqrt(d_model), RMSNorm with
 * (1 + w), local sliding-window layers alternating with global ones, and tied embeddings by default. Gemma 2
 * soft-caps attention scores and final logits; Gemma 3 normalizes queries and keys per head and gives local and
 * global layers rotary frequencies of their own (the global ones often linearly scaled).
 */
final class GemmaFamily implements ArchitectureFamily {
    private final int generation;

    /** @param generation 2 or 3 */
    GemmaFamily(int generation) {
        this.generation = generation;
    }

    @Override
    public ModelConfig config(Architecture architecture, ConfigValues c) {
        int d = c.integer("hidden_size");
        int heads = c.integer("num_attention_heads");
        int layers = c.integer("num_hidden_layers");
        int dHead = c.has("head_dim") ? c.integer("head_dim") : c.headDim(d, heads);
        String activationKey = c.has("hidden_activation") ? "hidden_activation" : "hidden_act";
        RopeParameters global;
        RopeParameters local;
        if (generation == 3
                && c.has("rope_parameters")
                && c.object("rope_parameters").has("full_attention")) {
            // transformers 5 writes one rope section per layer type.
            ConfigValues rope = c.object("rope_parameters");
            global = RopeConfig.read(c, rope.object("full_attention"), "rope_parameters.full_attention", 1_000_000.0);
            local = RopeConfig.read(c, rope.object("sliding_attention"), "rope_parameters.sliding_attention", 10_000.0);
        } else if (generation == 3) {
            // Released Gemma 3 configs: rope_theta and rope_scaling for global layers, rope_local_base_freq.
            global = RopeConfig.read(c, 1_000_000.0);
            local = RopeParameters.unscaled(c.number("rope_local_base_freq", 10_000.0));
        } else {
            global = RopeConfig.read(c, 10_000.0);
            local = global;
        }
        int pattern = generation == 2 ? 2 : c.integer("sliding_window_pattern", 6);
        int[] windows = c.slidingWindows(layers, c.integer("sliding_window", 0), l -> (l + 1) % pattern != 0);
        List<LayerAttention> attention = new ArrayList<>();
        for (int window : windows) {
            attention.add(new LayerAttention(window, window > 0 ? local : global));
        }
        double queryScale = c.number("query_pre_attn_scalar", dHead);
        if (!(queryScale > 0)) {
            throw c.invalid("query_pre_attn_scalar must be positive, not " + queryScale);
        }
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
                .activation(c.activation(activationKey))
                .rotaryDim(dHead)
                .ropeTheta(global.theta())
                .tiedEmbeddings(c.bool("tie_word_embeddings", true))
                .attentionBias(c.bool("attention_bias", false))
                .attnScale(1.0 / Math.sqrt(queryScale))
                .normalization(ModelConfig.Normalization.RMS_NORM)
                .embedScale(Math.sqrt(d))
                .attnSoftcap(c.number("attn_logit_softcapping", 0))
                .logitSoftcap(c.number("final_logit_softcapping", 0))
                .layers(attention)
                .build();
    }

    @Override
    public HookedTransformer build(ModelConfig config, Weights w, NDManager manager) {
        GemmaBlock.NormWeights norm = (name, length) -> Scalars.plus(w.get(name, length), 1);
        return LlamaLayout.assemble(
                config,
                w,
                manager,
                l -> new GemmaBlock(config, l, w, norm, generation == 3),
                norm.get("model.norm.weight", config.dModel()));
    }
}
