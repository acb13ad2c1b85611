package dev.patchbay.model;

import java.util.Arrays;
import java.util.Optional;

/**
 * The transformer families Patchbay runs, by the {@code model_type} of their Hugging Face config. Each names
 * its {@link ArchitectureFamily}, where all it knows lives.
 */
public enum Architecture {
    GPT2("gpt2", new Gpt2Family()),
    GPT_NEOX("gpt_neox", new NeoXFamily()),
    LLAMA("llama", new LlamaFamily(LlamaFamily.Variant.LLAMA)),
    MISTRAL("mistral", new LlamaFamily(LlamaFamily.Variant.MISTRAL)),
    QWEN2("qwen2", new LlamaFamily(LlamaFamily.Variant.QWEN2)),
    QWEN3("qwen3", new LlamaFamily(LlamaFamily.Variant.QWEN3)),
    PHI3("phi3", new LlamaFamily(LlamaFamily.Variant.PHI3)),
    GEMMA2("gemma2", new GemmaFamily(2)),
    GEMMA3("gemma3_text", new GemmaFamily(3)),
    OLMO2("olmo2", new Olmo2Family());

    private final String modelType;
    private final ArchitectureFamily family;

    Architecture(String modelType, ArchitectureFamily family) {
        this.modelType = modelType;
        this.family = family;
    }

    public String modelType() {
        return modelType;
    }

    /** Reads a model's configuration by this family's keys. */
    public ModelConfig readConfig(ConfigValues values) {
        return family.config(this, values);
    }

    ArchitectureFamily family() {
        return family;
    }

    public static Optional<Architecture> fromModelType(String modelType) {
        return Arrays.stream(values())
                .filter(a -> a.modelType.equals(modelType))
                .findFirst();
    }

    /** The model_type names Patchbay reads, for error messages. */
    public static String supported() {
        return String.join(
                ", ", Arrays.stream(values()).map(Architecture::modelType).toList());
    }
}
