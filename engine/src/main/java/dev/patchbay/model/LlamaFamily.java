package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;

/** Llama: RMSNorm, full rotary, SwiGLU, grouped-query attention; {@link LlamaBlock}. */
final class LlamaFamily implements ArchitectureFamily {
    @Override
    public ModelConfig config(ConfigValues c) {
        int d = c.integer("hidden_size");
        int heads = c.integer("num_attention_heads");
        int dHead = c.has("head_dim") ? c.integer("head_dim") : c.headDim(d, heads);
        ConfigValues rope = c.ropeParameters();
        double theta = rope != null && rope.has("rope_theta")
                ? rope.number("rope_theta", 10000.0)
                : c.number("rope_theta", 10000.0);
        return new ModelConfig(
                Architecture.LLAMA,
                c.integer("num_hidden_layers"),
                heads,
                c.integer("num_key_value_heads", heads),
                d,
                dHead,
                c.integer("intermediate_size"),
                c.integer("vocab_size"),
                c.integer("max_position_embeddings"),
                c.number("rms_norm_eps", 1e-6),
                c.activation("hidden_act"),
                dHead,
                theta,
                false,
                c.bool("tie_word_embeddings", false),
                c.bool("attention_bias", false),
                c.bool("mlp_bias", false),
                1.0 / Math.sqrt(dHead),
                false,
                ModelConfig.Normalization.RMS_NORM);
    }

    @Override
    public HookedTransformer build(ModelConfig config, Weights w, NDManager manager) {
        long d = config.dModel();
        NDArray embed = w.get("model.embed_tokens.weight", config.vocabSize(), d);
        List<TransformerBlock> blocks = new ArrayList<>();
        for (int l = 0; l < config.nLayers(); l++) {
            blocks.add(LlamaBlock.load(config, l, w));
        }
        // Some checkpoints tie the unembedding without saying so: no lm_head.weight.
        NDArray out = config.tiedEmbeddings() || !w.has("lm_head.weight")
                ? embed
                : w.get("lm_head.weight", config.vocabSize(), d);
        return new HookedTransformer(
                config, manager, embed, null, blocks, w.get("model.norm.weight", d), null, out.transpose());
    }

    @Override
    public boolean learnedPositions() {
        return false;
    }

    @Override
    public boolean gatedMlp() {
        return true;
    }
}
