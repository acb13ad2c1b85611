package dev.patchbay.checkpoint;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A checkpoint's {@code tokenizer.json}, run by the Hugging Face tokenizers library (through DJL), so ids
 * match what transformers produces, special tokens (such as Llama's BOS) included.
 */
public final class TextTokenizer implements AutoCloseable {
    /** Token ids with the token strings the tokenizer spells them as. */
    public record Tokens(int[] ids, String[] strings) {}

    private final HuggingFaceTokenizer tokenizer;

    private TextTokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    public static TextTokenizer open(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.exists(file)) {
            throw new CheckpointException(file, "file not found (a Hugging Face tokenizer.json is required)");
        }
        try {
            // No truncation and no padding: a prompt is tokenized exactly as given.
            return new TextTokenizer(
                    HuggingFaceTokenizer.newInstance(file, Map.of("truncation", "false", "padding", "false")));
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(file, "cannot load tokenizer: " + e.getMessage(), e);
        }
    }

    /** Tokens as the model sees a prompt, with the special tokens its tokenizer adds (such as a BOS). */
    public Tokens encode(String text) {
        return tokens(tokenizer.encode(text));
    }

    /** Tokens of a fragment, such as an answer word, without special tokens. */
    public Tokens encodeFragment(String text) {
        return tokens(tokenizer.encode(text, false, false));
    }

    /** The id of a fragment that must be one token, such as an answer word (" Mary"). */
    public int singleToken(String text) {
        Tokens t = encodeFragment(text);
        if (t.ids().length != 1) {
            throw new IllegalArgumentException("'" + text + "' is " + t.ids().length + " tokens "
                    + java.util.Arrays.toString(t.strings()) + "; an answer must be a single token");
        }
        return t.ids()[0];
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
