package dev.patchbay.model.family;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ConfigValues;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.TransformerBlock;
import dev.patchbay.model.Weights;
import java.util.ArrayList;
import java.util.List;

/** GPT-2: learned positions, pre-LayerNorm blocks in sequence, tied embeddings; {@link Gpt2Block}. */
final class Gpt2Family implements ArchitectureFamily {
    @Override
    public ModelConfig config(Architecture architecture, ConfigValues c) {
        int d = c.integer("n_embd");
        int heads = c.integer("n_head");
        int dHead = c.headDim(d, heads);
        // transformers scales by 1/sqrt(embed_dim // num_heads), and optionally by 1/(layer + 1) too.
        double scale = c.bool("scale_attn_weights", true) ? 1.0 / Math.sqrt(dHead) : 1.0;
        return ModelConfig.builder(architecture)
                .nLayers(c.integer("n_layer"))
                .nHeads(heads)
                .nKvHeads(heads)
                .dModel(d)
                .dHead(dHead)
                .dMlp(c.integer("n_inner", 4 * d))
                .vocabSize(c.integer("vocab_size"))
                .maxPositions(c.integer("n_positions"))
                .normEps(c.number("layer_norm_epsilon", 1e-5))
                .activation(c.activation("activation_function"))
                .ropeTheta(0)
                .tiedEmbeddings(true)
                .attentionBias(true)
                .mlpBias(true)
                .attnScale(scale)
                .scaleAttnByInverseLayer(c.bool("scale_attn_by_inverse_layer_idx", false))
                .normalization(ModelConfig.Normalization.LAYER_NORM)
                .build();
    }

    @Override
    public HookedTransformer build(ModelConfig config, Weights w, NDManager manager) {
        long d = config.dModel();
        // A bare GPT2Model checkpoint has no "transformer." prefix.
        String p = w.has("transformer.wte.weight") ? "transformer." : "";
        NDArray wte = w.get(p + "wte.weight", config.vocabSize(), d);
        NDArray wpe = w.get(p + "wpe.weight", config.maxPositions(), d);
        List<TransformerBlock> blocks = new ArrayList<>();
        for (int l = 0; l < config.nLayers(); l++) {
            blocks.add(Gpt2Block.load(config, l, w, p));
        }
        return new HookedTransformer(
                config,
                manager,
                wte,
                wpe,
                blocks,
                w.get(p + "ln_f.weight", d),
                w.get(p + "ln_f.bias", d),
                wte.transpose());
    }
}
