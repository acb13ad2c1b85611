package dev.patchbay.research;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.cli.CliRun;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The replication end to end on a tiny random model, with a two-pair distribution. */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class ReplicateCommandTest {
    private static final String PROMPTS = """
            {"settings": [{"name": "IOI-TWO", "description": "two pairs", "pairs": [
              {"clean": "When Mary and John went to the store, John gave a drink to",
               "noise": "When Mary and John went to the store, Mary gave a drink to", "answer": " Mary", "wrong": " John"},
              {"clean": "When John and Mary went to the store, Mary gave a drink to",
               "noise": "When John and Mary went to the store, John gave a drink to", "answer": " John", "wrong": " Mary"}
            ]}]}
            """;

    @TempDir
    Path dir;

    private final CliRun cli = new CliRun(ResearchCli::commandLine);

    @Test
    void writesAPlotPerSettingAndEveryCurveIsAtLeastTheOracle() throws IOException {
        Path prompts = Files.writeString(dir.resolve("prompts.json"), PROMPTS);
        Path out = dir.resolve("out");
        int exit = cli.run(
                "replicate",
                "--model",
                TestCheckpoints.dir("tiny-gpt2").toString(),
                "--prompts",
                prompts.toString(),
                "--out",
                out.toString(),
                "--seeds",
                "2",
                "--max-k",
                "50",
                "--nodes",
                "attention");
        assertEquals(0, exit, cli.err.toString());
        byte[] png = Files.readAllBytes(out.resolve("ioi-two-attention.png"));
        assertTrue(png.length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');
        String examples = Files.readString(out.resolve("constructed-examples.md"));
        assertTrue(
                examples.contains("| saturation | L0H0.k@1 |") && examples.contains("| cancellation | L0N0@1 |"),
                examples);
        String table = Files.readString(out.resolve("relative-cost.md"));
        assertTrue(table.contains("| AtP* |") && table.contains("| Hierarchical (b=4) |"), table);
        JsonObject results = JsonParser.parseString(Files.readString(out.resolve("results.json")))
                .getAsJsonObject();
        JsonArray settings = results.getAsJsonArray("settings");
        assertEquals(1, settings.size());
        for (JsonElement s : settings) {
            JsonObject setting = s.getAsJsonObject();
            assertEquals(2, setting.get("pairs").getAsInt());
            int k = setting.getAsJsonArray("true_top").size();
            assertEquals(50, k, "the tiny model has more than 50 nodes with nonzero effects");
            Set<String> labels = new HashSet<>();
            for (JsonElement c : setting.getAsJsonArray("curves")) {
                JsonArray cost = c.getAsJsonObject().getAsJsonArray("cost");
                String label = c.getAsJsonObject().get("label").getAsString();
                labels.add(label);
                assertEquals(k, cost.size(), label);
                for (int i = 0; i < k; i++) {
                    // every one of the true top k must be verified, one forward pass per pair each
                    assertTrue(cost.get(i).getAsDouble() >= i + 1, label + ": cost(" + (i + 1) + ") below the oracle");
                    assertTrue(
                            i == 0
                                    || cost.get(i).getAsDouble()
                                            >= cost.get(i - 1).getAsDouble(),
                            label + " decreases");
                }
                assertTrue(c.getAsJsonObject().get("relative_cost").getAsDouble() >= 1, label);
            }
            assertEquals(14, labels.size(), labels.toString());
        }
    }

    /** --edges: exact edge patching as the ground truth, every edge method's curve at least the oracle's. */
    @Test
    void edgesAreComparedBesideTheNodesWithoutOverwritingThem() throws IOException {
        Path prompts = Files.writeString(dir.resolve("prompts.json"), PROMPTS);
        Path out = dir.resolve("out");
        Files.createDirectories(out);
        Files.writeString(out.resolve("relative-cost.md"), "the nodes' table");
        int exit = cli.run(
                "replicate",
                "--edges",
                "--model",
                TestCheckpoints.dir("tiny-gpt2").toString(),
                "--prompts",
                prompts.toString(),
                "--out",
                out.toString(),
                "--seeds",
                "2",
                "--max-k",
                "30",
                "--ig-steps",
                "2");
        assertEquals(0, exit, cli.err.toString());
        assertEquals("the nodes' table", Files.readString(out.resolve("relative-cost.md")));
        assertTrue(Files.size(out.resolve("ioi-two-edges.png")) > 1000);
        assertTrue(Files.size(out.resolve("ioi-two-edges-per-position.png")) > 1000);
        String table = Files.readString(out.resolve("relative-cost-edges.md"));
        assertTrue(table.contains("true top k edges") && table.contains("| EAP-IG (2 steps) |"), table);
        JsonObject results = JsonParser.parseString(Files.readString(out.resolve("results-edges.json")))
                .getAsJsonObject();
        JsonArray settings = results.getAsJsonArray("settings");
        assertEquals(2, settings.size(), "edges over all positions and per position");
        for (JsonElement s : settings) {
            JsonObject setting = s.getAsJsonObject();
            int k = setting.getAsJsonArray("true_top").size();
            assertEquals(30, k);
            Set<String> labels = new HashSet<>();
            for (JsonElement c : setting.getAsJsonArray("curves")) {
                JsonArray cost = c.getAsJsonObject().getAsJsonArray("cost");
                String label = c.getAsJsonObject().get("label").getAsString();
                labels.add(label);
                for (int i = 0; i < k; i++) {
                    assertTrue(cost.get(i).getAsDouble() >= i + 1, label + ": cost(" + (i + 1) + ") below the oracle");
                }
            }
            assertEquals(
                    Set.of(
                            "EAP on edges",
                            "EAP-IG (2 steps)",
                            "AtP* on edges",
                            "Iterative",
                            "Hierarchical (b=2)",
                            "Hierarchical (b=4)",
                            "Hierarchical (b=16)"),
                    labels);
        }
    }

    @Test
    void aBadPromptFileIsOneClearErrorNamingTheField() throws IOException {
        Path prompts = Files.writeString(
                dir.resolve("prompts.json"), PROMPTS.replace("\"answer\": \" Mary\"", "\"answer\": \" Maryland\""));
        int exit = cli.run(
                "replicate",
                "--model",
                TestCheckpoints.dir("tiny-gpt2").toString(),
                "--prompts",
                prompts.toString(),
                "--out",
                dir.resolve("out").toString());
        assertEquals(1, exit);
        assertTrue(
                cli.err.toString().contains("settings[0].pairs[0].answer")
                        && cli.err.toString().contains("Maryland"),
                cli.err.toString());
    }

    @Test
    void anUnknownSettingIsNamed() throws IOException {
        Path prompts = Files.writeString(dir.resolve("prompts.json"), PROMPTS);
        assertEquals(
                1,
                cli.run(
                        "replicate",
                        "--model",
                        TestCheckpoints.dir("tiny-gpt2").toString(),
                        "--prompts",
                        prompts.toString(),
                        "--settings",
                        "CITY-PP",
                        "--out",
                        dir.resolve("out").toString()));
        assertTrue(cli.err.toString().contains("--settings: no setting 'CITY-PP'"), cli.err.toString());
    }
}
