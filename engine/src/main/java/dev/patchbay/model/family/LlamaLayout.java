package dev.patchbay.model.family;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.TransformerBlock;
import dev.patchbay.model.Weights;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/** The checkpoint layout that Llama, Mistral, Qwen, Phi-3, Gemma and OLMo 2 share around their blocks. */
final class LlamaLayout {
    private LlamaLayout() {}

    /**
     * The whole model in the Llama-style layout: {@code model.embed_tokens}, the blocks, the final norm's weight,
     * and {@code lm_head}, or the embeddings again where the model ties them or the checkpoint has no lm_head (some
     * tie it without saying so).
     */
    static HookedTransformer assemble(
            ModelConfig config, Weights w, NDManager manager, IntFunction<TransformerBlock> block, NDArray finalNorm) {
        long d = config.dModel();
        NDArray embed = w.get("model.embed_tokens.weight", config.vocabSize(), d);
        List<TransformerBlock> blocks = new ArrayList<>();
        for (int l = 0; l < config.nLayers(); l++) {
            blocks.add(block.apply(l));
        }
        NDArray out = config.tiedEmbeddings() || !w.has("lm_head.weight")
                ? embed
                : w.get("lm_head.weight", config.vocabSize(), d);
        return new HookedTransformer(config, manager, embed, null, blocks, finalNorm, null, out.transpose());
    }
}
