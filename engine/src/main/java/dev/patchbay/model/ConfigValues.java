package dev.patchbay.model;

import java.util.List;
import java.util.function.IntPredicate;

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

    /** A list of strings, such as {@code layer_types}. */
    List<String> strings(String key);

    /**
     * Each layer's sliding window (0: none), as transformers decides it: {@code layer_types} where the config
     * lists them ("sliding_attention" or "full_attention"), else the layers {@code slidingByDefault} names.
     *
     * @param window the window of sliding layers ({@code sliding_window}), or 0 where the model has none
     */
    default int[] slidingWindows(int layers, int window, IntPredicate slidingByDefault) {
        int[] windows = new int[layers];
        if (has("layer_types")) {
            List<String> types = strings("layer_types");
            if (types.size() != layers) {
                throw invalid("layer_types lists " + types.size() + " layers, but the model has " + layers);
            }
            for (int l = 0; l < layers; l++) {
                windows[l] = switch (types.get(l)) {
                    case "full_attention" -> 0;
                    case "sliding_attention" -> {
                        if (window == 0) {
                            throw invalid(
                                    "layer " + l + " is a sliding_attention layer, but sliding_window is not set");
                        }
                        yield window;
                    }
                    default ->
                        throw invalid("unsupported layer_types[" + l + "] \"" + types.get(l)
                                + "\"; supported are full_attention, sliding_attention");
                };
            }
        } else {
            for (int l = 0; l < layers; l++) {
                windows[l] = slidingByDefault.test(l) ? window : 0;
            }
        }
        return windows;
    }
}
