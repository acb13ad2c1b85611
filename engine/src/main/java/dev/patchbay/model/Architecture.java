package dev.patchbay.model;

import java.util.Arrays;
import java.util.Optional;

/**
 * The transformer families Patchbay runs, by the {@code model_type} of their Hugging Face config, with the facts
 * about each that the runtime asks (declared here, named, as TransformerLens's adapters declare theirs). What a
 * family knows beyond these (its config keys, weight names and block) lives in its {@code ArchitectureFamily}, which
 * {@code Families} finds (both in {@code dev.patchbay.model.family}); this enum knows no family, so the config and
 * the runtime never reach the families.
 */
public enum Architecture {
    //          model_type     learned positions, gated MLP, per-head query and key norms
    GPT2("gpt2", true, false, false),
    GPT_NEOX("gpt_neox", false, false, false),
    LLAMA("llama", false, true, false),
    MISTRAL("mistral", false, true, false),
    QWEN2("qwen2", false, true, false),
    QWEN3("qwen3", false, true, true),
    PHI3("phi3", false, true, false),
    GEMMA2("gemma2", false, true, false),
    GEMMA3("gemma3_text", false, true, true),
    OLMO2("olmo2", false, true, false);

    private final String modelType;
    private final boolean learnedPositions;
    private final boolean gatedMlp;
    private final boolean normsHeadsOfQueriesAndKeys;

    Architecture(String modelType, boolean learnedPositions, boolean gatedMlp, boolean normsHeadsOfQueriesAndKeys) {
        this.modelType = modelType;
        this.learnedPositions = learnedPositions;
        this.gatedMlp = gatedMlp;
        this.normsHeadsOfQueriesAndKeys = normsHeadsOfQueriesAndKeys;
    }

    public String modelType() {
        return modelType;
    }

    /** Whether positions are a learned table: a hook_pos_embed site, and prompts no longer than the table. */
    public boolean learnedPositions() {
        return learnedPositions;
    }

    /** Whether the MLP is gated: hook_pre is the gate and hook_pre_linear the linear branch. */
    public boolean gatedMlp() {
        return gatedMlp;
    }

    /** Whether each head's query and key are normalized before rotary: sites hook_q_normed and hook_k_normed. */
    public boolean normsHeadsOfQueriesAndKeys() {
        return normsHeadsOfQueriesAndKeys;
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
