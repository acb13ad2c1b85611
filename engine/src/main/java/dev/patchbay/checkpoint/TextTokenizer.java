package dev.patchbay.checkpoint;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint's {@code tokenizer.json}, run by the Hugging Face tokenizers library (through DJL), so ids
 * match what transformers produces, special tokens (such as Llama's BOS) included.
 */
public final class TextTokenizer implements AutoCloseable {
    /** Token ids with the token strings the tokenizer spells them as. */
    public record Tokens(int[] ids, String[] strings) {}

    private final HuggingFaceTokenizer tokenizer;
    /** The unknown token and its id, or null where every text has a spelling (byte-level BPE). */
    private final String unkToken;

    private final long unkId;

    private TextTokenizer(HuggingFaceTokenizer tokenizer, String unkToken, long unkId) {
        this.tokenizer = tokenizer;
        this.unkToken = unkToken;
        this.unkId = unkId;
    }

    public static TextTokenizer open(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.exists(file)) {
            boolean slow = Files.exists(dir.resolve("vocab.json"))
                    || Files.exists(dir.resolve("tokenizer.model"))
                    || Files.exists(dir.resolve("merges.txt"));
            throw new CheckpointException(
                    file,
                    "file not found (a Hugging Face tokenizer.json is required)"
                            + (slow
                                    ? "; this directory has a slow tokenizer's files (vocab.json, merges.txt or"
                                            + " tokenizer.model): write tokenizer.json with transformers,"
                                            + " AutoTokenizer.from_pretrained(dir).save_pretrained(dir)"
                                    : ""));
        }
        try {
            // No truncation and no padding: a prompt is tokenized exactly as given.
            HuggingFaceTokenizer tokenizer =
                    HuggingFaceTokenizer.newInstance(file, Map.of("truncation", "false", "padding", "false"));
            JsonObject model = Json.read(file).getAsJsonObject("model");
            String unk = model != null
                            && model.has("unk_token")
                            && !model.get("unk_token").isJsonNull()
                    ? model.get("unk_token").getAsString()
                    : null;
            // The unknown token's id from the vocabulary (word-level and BPE models keep a map of it).
            long unkId = unk == null
                    ? -1
                    : model.has("vocab")
                                    && model.get("vocab").isJsonObject()
                                    && model.getAsJsonObject("vocab").has(unk)
                            ? model.getAsJsonObject("vocab").get(unk).getAsLong()
                            : tokenizer.encode(unk, false, false).getIds()[0];
            return new TextTokenizer(tokenizer, unk, unkId);
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(file, "cannot load tokenizer: " + e.getMessage(), e);
        }
    }

    /** Tokens as the model sees a prompt, with the special tokens its tokenizer adds (such as a BOS). */
    public Tokens encode(String text) {
        return tokens(tokenizer.encode(text));
    }

    /**
     * As {@link #encode}, refusing a text with a word the vocabulary lacks: a word-level tokenizer reads it as
     * its unknown token silently, and the model then answers a different question.
     *
     * @throws IllegalArgumentException naming the words that are not in the vocabulary
     */
    public Tokens encodeKnown(String text) {
        Encoding encoding = tokenizer.encode(text);
        checkKnown(text, encoding);
        return tokens(encoding);
    }

    /** Tokens of a fragment, such as an answer word, without special tokens. */
    public Tokens encodeFragment(String text) {
        return tokens(tokenizer.encode(text, false, false));
    }

    /** The id of a fragment that must be one token, such as an answer word (" Mary"), and a known word. */
    public int singleToken(String text) {
        return singleToken(text, false);
    }

    /** As {@link #singleToken(String)}; with {@code allowUnknown}, a word the vocabulary lacks is its unknown token. */
    public int singleToken(String text, boolean allowUnknown) {
        Encoding encoding = tokenizer.encode(text, false, false);
        if (!allowUnknown) {
            checkKnown(text, encoding);
        }
        Tokens t = tokens(encoding);
        if (t.ids().length != 1) {
            throw new IllegalArgumentException("'" + text + "' is " + t.ids().length + " tokens "
                    + java.util.Arrays.toString(t.strings()) + "; an answer must be a single token"
                    + otherSpacing(text));
        }
        return t.ids()[0];
    }

    /**
     * Where the answer with its leading space dropped, or with one added, is a single known token: byte-level BPE
     * (GPT-2, Llama 3) spells a word after a space with the space (" Mary" is one token, "Mary" two), while a
     * SentencePiece tokenizer marks a word's start itself, so " Mary" may be the pieces "▁" + "Mary". Empty where
     * neither spelling is one token.
     */
    private String otherSpacing(String text) {
        String other = text.startsWith(" ") ? text.substring(1) : " " + text;
        if (other.isEmpty()) {
            return "";
        }
        Encoding encoding = tokenizer.encode(other, false, false);
        Tokens t = tokens(encoding);
        if (t.ids().length != 1 || (unkToken != null && t.ids()[0] == unkId)) {
            return "";
        }
        return "; '" + other + "' is one token [" + t.strings()[0] + "]: this tokenizer spells the word "
                + (text.startsWith(" ") ? "without" : "with") + " the leading space";
    }

    /** The words of {@code text} that became the unknown token without being spelled as it. */
    private void checkKnown(String text, Encoding encoding) {
        if (unkToken == null) {
            return;
        }
        long[] ids = encoding.getIds();
        CharSpan[] spans = encoding.getCharTokenSpans();
        List<String> unknown = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == unkId && spans[i] != null) {
                String word = text.substring(spans[i].getStart(), spans[i].getEnd());
                if (!word.equals(unkToken)) {
                    unknown.add(word);
                }
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(
                    unknown.stream().map(w -> "'" + w + "'").toList()
                            + (unknown.size() == 1 ? " is" : " are")
                            + " not in the model's vocabulary (the tokenizer would"
                            + " read " + (unknown.size() == 1 ? "it" : "them") + " as " + unkToken + ")");
        }
    }

    private static Tokens tokens(Encoding encoding) {
        long[] ids = encoding.getIds();
        int[] narrow = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            narrow[i] = Math.toIntExact(ids[i]);
        }
        return new Tokens(narrow, encoding.getTokens());
    }

    public String decode(int... ids) {
        long[] wide = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            wide[i] = ids[i];
        }
        return tokenizer.decode(wide, false);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
