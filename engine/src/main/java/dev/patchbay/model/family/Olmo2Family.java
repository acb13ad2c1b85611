package dev.patchbay.model.family;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ConfigValues;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.LayerAttention;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.RopeConfig;
import dev.patchbay.model.RopeParameters;
import dev.patchbay.model.Weights;
import java.util.Collections;

/** OLMo 2: norms after attention and the MLP instead of before, and q/k norms over the whole projection. */
final class Olmo2Family implements ArchitectureFamily {
    @Override
    public ModelConfig config(Architecture architecture, ConfigValues c) {
        int d = c.integer("hidden_size");
        int heads = c.integer("num_attention_heads");
        int layers = c.integer("num_hidden_layers");
        int dHead = c.has("head_dim") ? c.integer("head_dim") : c.headDim(d, heads);
        RopeParameters rope = RopeConfig.read(c, 10000.0);
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
                .rotaryDim(LlamaFamily.rotaryDim(c, dHead))
                .ropeTheta(rope.theta())
                .tiedEmbeddings(c.bool("tie_word_embeddings", false))
                .attentionBias(c.bool("attention_bias", false))
                .attnScale(1.0 / Math.sqrt(dHead))
                .normalization(ModelConfig.Normalization.RMS_NORM)
                .layers(Collections.nCopies(layers, new LayerAttention(0, rope)))
                .build();
    }

    @Override
    public HookedTransformer build(ModelConfig config, Weights w, NDManager manager) {
        return LlamaLayout.assemble(
                config, w, manager, l -> new Olmo2Block(config, l, w), w.get("model.norm.weight", config.dModel()));
    }
}
