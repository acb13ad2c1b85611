package dev.patchbay.model.family;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ConfigValues;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.LayerAttention;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.RopeConfig;
import dev.patchbay.model.RopeParameters;
import dev.patchbay.model.TransformerBlock;
import dev.patchbay.model.Weights;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** GPT-NeoX (Pythia): partial rotary, attention and MLP in parallel by default; {@link NeoXBlock}. */
final class NeoXFamily implements ArchitectureFamily {
    @Override
    public ModelConfig config(Architecture architecture, ConfigValues c) {
        int d = c.integer("hidden_size");
        int heads = c.integer("num_attention_heads");
        int dHead = c.headDim(d, heads);
        // Released checkpoints say rotary_pct and rotary_emb_base; transformers 5 writes rope_parameters.
        ConfigValues section = RopeConfig.section(c);
        double fraction = section != null && section.has("partial_rotary_factor")
                ? section.number("partial_rotary_factor", 1.0)
                : c.number("rotary_pct", c.number("partial_rotary_factor", 1.0));
        RopeParameters rope = RopeConfig.read(c, c.number("rotary_emb_base", 10000.0));
        int layers = c.integer("num_hidden_layers");
        return ModelConfig.builder(architecture)
                .nLayers(layers)
                .nHeads(heads)
                .nKvHeads(heads)
                .dModel(d)
                .dHead(dHead)
                .dMlp(c.integer("intermediate_size"))
                .vocabSize(c.integer("vocab_size"))
                .maxPositions(c.integer("max_position_embeddings"))
                .normEps(c.number("layer_norm_eps", 1e-5))
                .activation(c.activation("hidden_act"))
                .rotaryDim((int) (dHead * fraction))
                .ropeTheta(rope.theta())
                .parallelResidual(c.bool("use_parallel_residual", true))
                .tiedEmbeddings(c.bool("tie_word_embeddings", false))
                .attentionBias(c.bool("attention_bias", true))
                .mlpBias(true)
                .attnScale(1.0 / Math.sqrt(dHead))
                .normalization(ModelConfig.Normalization.LAYER_NORM)
                .layers(Collections.nCopies(layers, new LayerAttention(0, rope)))
                .build();
    }

    @Override
    public HookedTransformer build(ModelConfig config, Weights w, NDManager manager) {
        long d = config.dModel();
        NDArray embed = w.get("gpt_neox.embed_in.weight", config.vocabSize(), d);
        List<TransformerBlock> blocks = new ArrayList<>();
        for (int l = 0; l < config.nLayers(); l++) {
            blocks.add(NeoXBlock.load(config, l, w));
        }
        NDArray out = config.tiedEmbeddings() ? embed : w.get("embed_out.weight", config.vocabSize(), d);
        return new HookedTransformer(
                config,
                manager,
                embed,
                null,
                blocks,
                w.get("gpt_neox.final_layer_norm.weight", d),
                w.get("gpt_neox.final_layer_norm.bias", d),
                out.transpose());
    }
}
