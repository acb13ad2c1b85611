package dev.patchbay.model;

import java.util.Arrays;
import java.util.Optional;

/** The transformer families Patchbay runs, by the {@code model_type} of their Hugging Face config. */
public enum Architecture {
    GPT2("gpt2"),
    GPT_NEOX("gpt_neox"),
    LLAMA("llama");

    private final String modelType;

    Architecture(String modelType) {
        this.modelType = modelType;
    }

    public String modelType() {
        return modelType;
    }

    public static Optional<Architecture> fromModelType(String modelType) {
        return Arrays.stream(values())
                .filter(a -> a.modelType.equals(modelType))
                .findFirst();
    }
}
