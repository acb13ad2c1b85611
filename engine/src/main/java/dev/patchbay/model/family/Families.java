package dev.patchbay.model.family;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ConfigValues;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Weights;

/**
 * Each {@link Architecture}'s family: how its config is read and its model built. The one place that knows every
 * family, so that nothing a family uses (the config, the runtime, the blocks) knows it.
 */
public final class Families {
    private Families() {}

    static ArchitectureFamily of(Architecture architecture) {
        return switch (architecture) {
            case GPT2 -> new Gpt2Family();
            case GPT_NEOX -> new NeoXFamily();
            case LLAMA -> new LlamaFamily(LlamaFamily.Variant.LLAMA);
            case MISTRAL -> new LlamaFamily(LlamaFamily.Variant.MISTRAL);
            case QWEN2 -> new LlamaFamily(LlamaFamily.Variant.QWEN2);
            case QWEN3 -> new LlamaFamily(LlamaFamily.Variant.QWEN3);
            case PHI3 -> new LlamaFamily(LlamaFamily.Variant.PHI3);
            case GEMMA2 -> new GemmaFamily(2);
            case GEMMA3 -> new GemmaFamily(3);
            case OLMO2 -> new Olmo2Family();
        };
    }

    /** Reads a model's configuration by its family's keys. */
    public static ModelConfig readConfig(Architecture architecture, ConfigValues values) {
        return of(architecture).config(architecture, values);
    }

    /** The model of {@code config} over the checkpoint's weights {@code w}, owned by {@code manager}. */
    public static HookedTransformer build(ModelConfig config, Weights w, NDManager manager) {
        return of(config.architecture()).build(config, w, manager);
    }
}
