package dev.patchbay.research.replication;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One of the paper's prompt settings: a single clean/noise pair (IOI-PP, CITY-PP, RAND-PP) or a distribution
 * of pairs (IOI-DIST), each scored by the logit difference of its answer over its wrong answer.
 */
public record PromptSetting(String name, String description, List<PromptPair> pairs) {
    /**
     * Reads a prompt file (see tools/make_replication_prompts.py): {"settings": [{"name", "description", "pairs":
     * [{"clean", "noise", "answer", "wrong"}]}]}. Errors name the file and the field.
     */
    public static List<PromptSetting> load(Path file, TextTokenizer tokenizer) {
        JsonObject root;
        try {
            root = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(file + ": not a readable JSON object (" + e.getMessage() + ")", e);
        }
        List<PromptSetting> out = new ArrayList<>();
        JsonArray settings = array(root, "settings", file.toString());
        for (int s = 0; s < settings.size(); s++) {
            String at = file + ": settings[" + s + "]";
            JsonObject setting = object(settings.get(s), at);
            JsonArray pairs = array(setting, "pairs", at);
            List<PromptPair> parsed = new ArrayList<>();
            for (int p = 0; p < pairs.size(); p++) {
                String pairAt = at + ".pairs[" + p + "]";
                parsed.add(pair(object(pairs.get(p), pairAt), tokenizer, pairAt));
            }
            if (parsed.isEmpty()) {
                throw new IllegalArgumentException(at + ".pairs: no pairs");
            }
            for (PromptPair p : parsed) {
                if (p.length() != parsed.get(0).length()) {
                    throw new IllegalArgumentException(at + ".pairs: the pairs of a distribution must have one token"
                            + " length (nodes are per position); found "
                            + parsed.get(0).length() + " and " + p.length());
                }
            }
            out.add(new PromptSetting(string(setting, "name", at), string(setting, "description", at), parsed));
        }
        return out;
    }

    private static PromptPair pair(JsonObject o, TextTokenizer tokenizer, String at) {
        int[] clean = tokenizer.encode(string(o, "clean", at)).ids();
        int[] noise = tokenizer.encode(string(o, "noise", at)).ids();
        if (clean.length != noise.length) {
            throw new IllegalArgumentException(at + ": clean and noise must have the same token length: "
                    + Arrays.toString(tokenizer.encode(string(o, "clean", at)).strings()) + " vs "
                    + Arrays.toString(tokenizer.encode(string(o, "noise", at)).strings()));
        }
        return new PromptPair(clean, noise, Metric.logitDiff(new int[] {token(o, "answer", tokenizer, at)}, new int[] {
            token(o, "wrong", tokenizer, at)
        }));
    }

    private static int token(JsonObject o, String field, TextTokenizer tokenizer, String at) {
        try {
            return tokenizer.singleToken(string(o, field, at));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(at + "." + field + ": " + e.getMessage(), e);
        }
    }

    private static JsonObject object(JsonElement e, String at) {
        if (!e.isJsonObject()) {
            throw new IllegalArgumentException(at + ": not a JSON object");
        }
        return e.getAsJsonObject();
    }

    private static String string(JsonObject o, String field, String at) {
        JsonElement e = o.get(field);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException(at + "." + field + ": missing or not a string");
        }
        return e.getAsString();
    }

    private static JsonArray array(JsonObject o, String field, String at) {
        JsonElement e = o.get(field);
        if (e == null || !e.isJsonArray()) {
            throw new IllegalArgumentException(at + "." + field + ": missing or not an array");
        }
        return e.getAsJsonArray();
    }
}
