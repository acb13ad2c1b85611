package dev.patchbay.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ConfigValues;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.family.Families;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a Hugging Face {@code config.json} into a {@link ModelConfig}: finds the architecture by
 * {@code model_type}, and lets its family read its own keys (both those of released checkpoints, e.g. Pythia's
 * {@code rotary_pct}, and those transformers 5 writes, {@code rope_parameters}). Every refusal is a
 * {@link CheckpointException} naming the file.
 */
public final class HfConfig implements ConfigValues {
    private final Path file;
    private final String prefix;
    private final JsonObject json;

    private HfConfig(Path file, String prefix, JsonObject json) {
        this.file = file;
        this.prefix = prefix;
        this.json = json;
    }

    public static ModelConfig read(Path dir) {
        Path file = dir.resolve("config.json");
        HfConfig config = new HfConfig(file, "", Json.read(file));
        String modelType = config.string("model_type");
        Architecture arch = Architecture.fromModelType(modelType)
                .orElseThrow(() -> new CheckpointException(
                        file,
                        "unknown architecture: model_type \"" + modelType + "\"; supported are "
                                + Architecture.supported()));
        ModelConfig read;
        try {
            read = Families.readConfig(arch, config);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file, e.getMessage(), e);
        }
        Path generation = dir.resolve("generation_config.json");
        HfConfig eosFrom = config;
        if (Files.isRegularFile(generation)) {
            HfConfig g = new HfConfig(generation, "", Json.read(generation));
            eosFrom = g.json.has("eos_token_id") ? g : config;
        }
        List<Integer> endOfText = eosFrom.tokenIds("eos_token_id");
        try {
            return read.withEndOfText(endOfText);
        } catch (IllegalArgumentException e) {
            throw eosFrom.invalid("\"eos_token_id\": " + e.getMessage());
        }
    }

    /**
     * Token ids under {@code key}: one integer or a list of them, none when the key is absent or null. transformers'
     * {@code generate} reads {@code eos_token_id} from generation_config.json where that file names it (null there
     * means none), else from config.json, and so does {@link #read}.
     */
    private List<Integer> tokenIds(String key) {
        if (!has(key)) {
            return List.of();
        }
        JsonElement value = json.get(key);
        List<Integer> out = new ArrayList<>();
        if (value.isJsonArray()) {
            JsonArray list = value.getAsJsonArray();
            for (int i = 0; i < list.size(); i++) {
                out.add(exactInteger(list.get(i), key + "[" + i + "]"));
            }
        } else {
            out.add(exactInteger(value, key));
        }
        return out;
    }

    @Override
    public boolean has(String key) {
        return json.has(key) && !json.get(key).isJsonNull();
    }

    @Override
    public String string(String key) {
        try {
            return required(key).getAsString();
        } catch (UnsupportedOperationException | IllegalStateException e) {
            throw invalid("\"" + prefix + key + "\" must be a string");
        }
    }

    /**
     * A whole number from 0 to 2^31 - 1. Read exactly: gson's getAsInt would read 12.5 as 12 and 2^32 + 128 as
     * 128, and a model would load with a size nobody wrote.
     */
    @Override
    public int integer(String key) {
        return exactInteger(required(key), key);
    }

    private int exactInteger(JsonElement value, String key) {
        try {
            int n = value.getAsBigDecimal().intValueExact();
            if (n < 0) {
                throw new ArithmeticException("negative");
            }
            return n;
        } catch (NumberFormatException
                | ArithmeticException
                | UnsupportedOperationException
                | IllegalStateException e) {
            throw invalid(
                    "\"" + prefix + key + "\" must be an integer from 0 to " + Integer.MAX_VALUE + ", not " + value);
        }
    }

    @Override
    public double number(String key, double fallback) {
        if (!has(key)) {
            return fallback;
        }
        try {
            return json.get(key).getAsDouble();
        } catch (NumberFormatException | UnsupportedOperationException | IllegalStateException e) {
            throw invalid("\"" + prefix + key + "\" must be a number, not " + json.get(key));
        }
    }

    @Override
    public boolean bool(String key, boolean fallback) {
        return has(key) ? json.get(key).getAsBoolean() : fallback;
    }

    @Override
    public ConfigValues object(String key) {
        JsonElement value = required(key);
        if (!value.isJsonObject()) {
            throw invalid("\"" + prefix + key + "\" must be an object, not " + value);
        }
        return new HfConfig(file, prefix + key + ".", value.getAsJsonObject());
    }

    @Override
    public List<String> strings(String key) {
        JsonElement value = required(key);
        CheckpointException wrong = invalid("\"" + prefix + key + "\" must be a list of strings, not " + value);
        if (!value.isJsonArray()) {
            throw wrong;
        }
        List<String> out = new ArrayList<>();
        for (JsonElement e : value.getAsJsonArray()) {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
                throw wrong;
            }
            out.add(e.getAsString());
        }
        return out;
    }

    @Override
    public CheckpointException invalid(String message) {
        return new CheckpointException(file, message);
    }

    private JsonElement required(String key) {
        if (!has(key)) {
            throw invalid("missing \"" + prefix + key + "\"");
        }
        return json.get(key);
    }
}
