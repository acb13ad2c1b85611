package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.TestCheckpoints.Golden;
import org.junit.jupiter.api.Test;

class LogitsCommandTest {
    private final CliRun cli = new CliRun();
    private final java.io.StringWriter out = cli.out;
    private final java.io.StringWriter err = cli.err;

    private int run(String... args) {
        return cli.run(args);
    }

    @Test
    void jsonHasTheTokensAndTheFinalPositionsLogits() {
        Golden golden = TestCheckpoints.golden("tiny-llama");
        int exit = run(
                "logits", "--model", TestCheckpoints.dir("tiny-llama").toString(), "--text", golden.text(1), "--json");
        assertEquals(0, exit, err.toString());
        JsonObject json = JsonParser.parseString(out.toString().trim()).getAsJsonObject();
        int[] tokens = new com.google.gson.Gson().fromJson(json.get("tokens"), int[].class);
        double[] logits = new com.google.gson.Gson().fromJson(json.get("logits"), double[].class);
        assertArrayEquals(golden.ids(1), tokens);
        double[] all = golden.logits(1);
        double[] last = java.util.Arrays.copyOfRange(all, all.length - logits.length, all.length);
        assertTrue(TestCheckpoints.maxAbsDiff(logits, last) <= 1e-4);
    }

    @Test
    void readableTableListsTheTopTokens() {
        assertEquals(
                0,
                run(
                        "logits",
                        "--model",
                        TestCheckpoints.dir("tiny-gpt2").toString(),
                        "--text",
                        "The quick",
                        "--top",
                        "3"));
        assertTrue(out.toString().contains("rank"), out.toString());
        assertEquals(3 + 2, out.toString().trim().split("\n").length, out.toString());
    }

    @Test
    void aBadModelDirectoryIsOneClearError() {
        int exit = run("logits", "--model", "/nonexistent/model", "--text", "hi");
        assertEquals(1, exit);
        assertTrue(
                err.toString().contains("/nonexistent/model") && err.toString().contains("not a directory"),
                err.toString());
    }
}
