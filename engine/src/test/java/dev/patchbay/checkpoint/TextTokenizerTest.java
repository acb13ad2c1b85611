package dev.patchbay.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.TestCheckpoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A word the vocabulary lacks is refused, not silently read as the unknown token: the bundled model's
 * word-level tokenizer turned " Zebediah" into <|endoftext|> and answered a different question.
 */
class TextTokenizerTest {
    private static TextTokenizer wordLevel;
    private static TextTokenizer byteLevel;

    @BeforeAll
    static void open() {
        wordLevel = TextTokenizer.open(TestCheckpoints.dir(TestCheckpoints.DEFAULT_MODEL));
        byteLevel = TextTokenizer.open(TestCheckpoints.dir("tiny-gpt2"));
    }

    @AfterAll
    static void close() {
        wordLevel.close();
        byteLevel.close();
    }

    @Test
    void aPromptWithWordsTheVocabularyLacksIsRefusedNamingThem() {
        String prompt = "When Mary and Zebediah went to the store, Quux gave a drink to";
        var e = assertThrows(IllegalArgumentException.class, () -> wordLevel.encodeKnown(prompt));
        assertEquals(
                "['Zebediah', 'Quux'] are not in the model's vocabulary (the tokenizer would read them as"
                        + " <|endoftext|>)",
                e.getMessage());
        // The unchecked encoding is what the check guards against: the unknown words became id 0.
        assertTrue(wordLevel.encode(prompt).ids()[3]
                == wordLevel.encode("<|endoftext|>").ids()[0]);
    }

    @Test
    void knownWordsPass() {
        String prompt = "When Mary and John went to the store, John gave a drink to";
        assertArrayEquals(
                wordLevel.encode(prompt).ids(), wordLevel.encodeKnown(prompt).ids());
    }

    @Test
    void anAnswerTheVocabularyLacksIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> wordLevel.singleToken(" Zebediah"));
        assertTrue(e.getMessage().startsWith("['Zebediah'] is not in the model's vocabulary"), e.getMessage());
        assertEquals(wordLevel.encodeFragment(" Mary").ids()[0], wordLevel.singleToken(" Mary"));
    }

    @Test
    void aByteLevelTokenizerHasNoUnknownWords() {
        String text = "Zebediah and Quux, naïvely";
        assertArrayEquals(
                byteLevel.encode(text).ids(), byteLevel.encodeKnown(text).ids());
    }
}
