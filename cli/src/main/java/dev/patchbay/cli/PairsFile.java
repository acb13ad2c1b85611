package dev.patchbay.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code attribute --pairs FILE}: a distribution of prompt pairs as JSON Lines, one object per line with
 * "clean", "noise", "answer" (a token such as " Mary", or a list of them) and, for logit_diff, "wrong". Other keys
 * are kept as the pair's fields (scrub reads its labels from them). Blank lines are skipped; every error names the
 * file and the line.
 */
final class PairsFile {
    private PairsFile() {}

    static List<PromptPair> read(Path file, TextTokenizer tokenizer, Metric.Kind kind) throws IOException {
        return read(file, tokenizer, kind, false);
    }

    /** @param noiseOptional a line without "noise" takes its clean prompt (for what reads only clean prompts) */
    static List<PromptPair> read(Path file, TextTokenizer tokenizer, Metric.Kind kind, boolean noiseOptional)
            throws IOException {
        List<PromptPair> pairs = new ArrayList<>();
        for (Line line : lines(file)) {
            JsonObject o = line.fields();
            String clean = text(o, "clean", line.where());
            pairs.add(AttributeCommand.pair(
                    tokenizer,
                    kind,
                    clean,
                    noiseOptional && !o.has("noise") ? clean : text(o, "noise", line.where()),
                    tokens(o, "answer", line.where()),
                    tokens(o, "wrong", line.where()),
                    line.where()));
        }
        return pairs;
    }

    /** One non-blank line: where it is (for errors) and its object. */
    record Line(String where, JsonObject fields) {}

    /** The file's pairs as JSON objects, in order. */
    static List<Line> lines(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("--pairs: cannot read " + file + ": " + e.getMessage(), e);
        }
        List<Line> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            String where = file + " line " + (i + 1) + ": ";
            try {
                JsonElement parsed = JsonParser.parseString(line);
                if (!parsed.isJsonObject()) {
                    throw new IllegalArgumentException(where + "a pair must be a JSON object, not " + line);
                }
                out.add(new Line(where, parsed.getAsJsonObject()));
            } catch (JsonParseException e) {
                throw new IllegalArgumentException(where + "not JSON: " + e.getMessage(), e);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--pairs: " + file + " has no pairs");
        }
        return out;
    }

    private static String text(JsonObject o, String key, String where) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException(where + "\"" + key + "\" must be a string");
        }
        return e.getAsString();
    }

    /** A token or a list of tokens; null where the key is absent (a metric that needs it says so). */
    private static List<String> tokens(JsonObject o, String key, String where) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) {
            return List.of(e.getAsString());
        }
        IllegalArgumentException wrong =
                new IllegalArgumentException(where + "\"" + key + "\" must be a token string or a list of them");
        if (!e.isJsonArray()) {
            throw wrong;
        }
        List<String> out = new ArrayList<>();
        for (JsonElement t : e.getAsJsonArray()) {
            if (!t.isJsonPrimitive() || !t.getAsJsonPrimitive().isString()) {
                throw wrong;
            }
            out.add(t.getAsString());
        }
        return out;
    }
}
