package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The attribute command end to end, in the fp32 the product runs in. */
class AttributeCommandTest {
    private static final String CLEAN = "When Mary and John went to the store, John gave a drink to";
    private static final String NOISE = "When Mary and John went to the store, Mary gave a drink to";
    private final CliRun cli = new CliRun();
    private final java.io.StringWriter out = cli.out;
    private final java.io.StringWriter err = cli.err;

    private int run(String... args) {
        return cli.run(args);
    }

    @ParameterizedTest
    @ValueSource(strings = {"ap", "atp", "atp-qk", "atp-star"})
    void everyMethodPrintsEveryNodeAsJson(String method) {
        int exit = run(
                "attribute",
                "--model",
                TestCheckpoints.dir("tiny-llama").toString(),
                "--clean",
                CLEAN,
                "--noise",
                NOISE,
                "--answer",
                " Mary",
                "--wrong",
                " John",
                "--method",
                method,
                "--nodes",
                "all",
                "--json");
        assertEquals(0, exit, err.toString());
        JsonObject json = JsonParser.parseString(out.toString().trim()).getAsJsonObject();
        assertEquals(method, json.get("method").getAsString());
        JsonObject effects = json.getAsJsonObject("effects");
        int tokens = TestCheckpoints.golden("tiny-llama").ids(0).length; // golden prompt 0 is CLEAN, BOS included
        // per layer: q, z (4 heads), k, v (2 key/value heads), 64 neurons; at every position; 2 layers
        assertEquals(2 * tokens * (4 + 4 + 2 + 2 + 64), effects.size());
        int last = tokens - 1;
        assertTrue(effects.has("L1H3.q@" + last) && effects.has("L0H1.k@0") && effects.has("L1N63@" + last));
        assertTrue(json.getAsJsonObject("cost").get("forward_passes").getAsDouble() >= 4);
    }

    @Test
    void headsOverAllPositionsByDefaultAndAReadableTable() {
        assertEquals(
                0,
                run(
                        "attribute",
                        "--model",
                        TestCheckpoints.dir("tiny-gpt2").toString(),
                        "--clean",
                        CLEAN,
                        "--noise",
                        NOISE,
                        "--answer",
                        " Mary",
                        "--wrong",
                        " John",
                        "--top",
                        "5"),
                err.toString());
        assertTrue(out.toString().contains("L1H"), out.toString());
        assertTrue(out.toString().contains("atp-star"), out.toString());
        // The metric names its tokens, not their ids.
        assertTrue(out.toString().contains("logit_diff(answers=[\" Mary\"], wrongs=[\" John\"])"), out.toString());
    }

    @Test
    void promptsOfDifferentLengthsAreOneClearError() {
        assertEquals(
                1,
                run(
                        "attribute",
                        "--model",
                        TestCheckpoints.dir("tiny-gpt2").toString(),
                        "--clean",
                        CLEAN,
                        "--noise",
                        "Hello",
                        "--answer",
                        " Mary",
                        "--wrong",
                        " John"));
        assertTrue(err.toString().contains("same token length"), err.toString());
    }

    @Test
    void aMultiTokenAnswerIsOneClearError() {
        assertEquals(
                1,
                run(
                        "attribute",
                        "--model",
                        TestCheckpoints.dir("tiny-gpt2").toString(),
                        "--clean",
                        CLEAN,
                        "--noise",
                        NOISE,
                        "--answer",
                        " Maryland",
                        "--wrong",
                        " John"));
        assertTrue(
                err.toString().contains("--answer ' Maryland'")
                        && err.toString().contains("single token"),
                err.toString());
    }
}
