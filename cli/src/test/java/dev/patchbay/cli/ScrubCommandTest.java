package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The scrub command end to end on tiny-gpt2 with two IOI prompts, labels read from the pairs file. */
class ScrubCommandTest {
    private final CliRun cli = new CliRun();

    @TempDir
    Path dir;

    private Path pairs() throws IOException {
        Path file = dir.resolve("ioi.jsonl");
        Files.writeString(file, """
                {"clean": "When Mary and John went to the store, John gave a drink to", "answer": " Mary", \
                "wrong": " John", "io": "Mary"}
                {"clean": "When John and Mary went to the store, Mary gave a drink to", "answer": " John", \
                "wrong": " Mary", "io": "John"}
                """);
        return file;
    }

    private int scrub(List<String> claims) throws IOException {
        List<String> args = new ArrayList<>(List.of(
                "scrub",
                "--model",
                TestCheckpoints.dir("tiny-gpt2").toString(),
                "--pairs",
                pairs().toString(),
                "--samples",
                "6",
                "--json"));
        claims.forEach(c -> args.addAll(List.of("--claim", c)));
        return cli.run(args.toArray(String[]::new));
    }

    @Test
    void everyWriterClaimedOnItsOwnInputRecoversTheWholeBehaviour() throws IOException {
        List<String> claims = new ArrayList<>(List.of("embed=*", "L0.mlp=*", "L1.mlp=*"));
        for (int layer = 0; layer < 2; layer++) {
            for (int head = 0; head < 4; head++) {
                claims.add("L" + layer + "H" + head + "=io");
            }
        }
        assertEquals(0, scrub(claims), cli.err.toString());
        JsonObject r = JsonParser.parseString(cli.out.toString()).getAsJsonObject();
        // Each input is the only one with its io name, so "io" labels are the input itself: exact up to float32.
        assertEquals(1.0, r.get("recovered").getAsDouble(), 1e-4, r.toString());
        assertTrue(r.getAsJsonArray("edges").size() > 20, r.toString());
    }

    @Test
    void aClaimOnAMissingFieldNamesTheLine() throws IOException {
        assertEquals(1, scrub(List.of("L0H0=template")));
        assertTrue(
                cli.err.toString().contains("line 1: no \"template\" field for --claim L0H0=template"),
                cli.err.toString());
    }
}
