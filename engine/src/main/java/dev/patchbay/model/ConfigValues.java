package dev.patchbay.model;

/**
 * The values of a model's configuration (a Hugging Face {@code config.json}) as an architecture family reads
 * them. The checkpoint layer implements it over the file, so every refusal names the file and the key.
 */
public interface ConfigValues {
    /** Whether the key is present and not null. */
    boolean has(String key);

    String string(String key);

    int integer(String key);

    /** The number, or {@code fallback} if the key is absent or null. */
    double number(String key, double fallback);

    /** The boolean, or {@code fallback} if the key is absent or null. */
    boolean bool(String key, boolean fallback);

    /** A nested object, such as {@code rope_parameters}. */
    ConfigValues object(String key);

    /** An error about this configuration, naming where it came from. */
    RuntimeException invalid(String message);

    /** The integer, or {@code fallback} if the key is absent or null. */
    default int integer(String key, int fallback) {
        return has(key) ? integer(key) : fallback;
    }

    /** The head size: the hidden size over the head count, which must divide it. */
    default int headDim(int hidden, int heads) {
        if (hidden <= 0 || heads <= 0) {
            throw invalid("the hidden size (" + hidden + ") and the head count (" + heads + ") must be positive");
        }
        if (hidden % heads != 0) {
            throw invalid("hidden size " + hidden + " is not a multiple of the head count " + heads);
        }
        return hidden / heads;
    }

    /** The MLP nonlinearity named by {@code key}, refused unless the runtime computes it. */
    default String activation(String key) {
        String act = string(key);
        if (!Functional.ACTIVATIONS.contains(act)) {
            throw invalid("unsupported " + key + " \"" + act + "\"; supported are " + Functional.ACTIVATIONS);
        }
        return act;
    }

    /**
     * The rotary settings ({@code rope_parameters} as transformers 5 writes them), or null; refuses scaled
     * variants (llama3, yarn, dynamic, ...) whose frequencies this runtime would get wrong.
     */
    default ConfigValues ropeParameters() {
        for (String key : new String[] {"rope_parameters", "rope_scaling"}) {
            if (has(key)) {
                ConfigValues rope = object(key);
                String type = rope.has("rope_type")
                        ? rope.string("rope_type")
                        : rope.has("type") ? rope.string("type") : null;
                if (type != null && !type.equals("default")) {
                    throw invalid("unsupported " + key + ".rope_type \"" + type
                            + "\"; only \"default\" rotary embedding is implemented");
                }
                if (key.equals("rope_parameters")) {
                    return rope;
                }
            }
        }
        return null;
    }
}
