package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.generation.Generation;
import dev.patchbay.model.Intervention;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The generate command on tiny-gpt2, and its intervention syntax. */
class GenerateCommandTest {
    private final CliRun cli = new CliRun();

    @TempDir
    Path dir;

    private JsonObject generate(String... interventions) {
        List<String> args = new ArrayList<>(List.of(
                "generate",
                "--model",
                TestCheckpoints.dir("tiny-gpt2").toString(),
                "--text",
                "When Mary and John went to the store",
                "--max-new-tokens",
                "5",
                "--json"));
        for (String i : interventions) {
            args.addAll(List.of("--intervene", i));
        }
        assertEquals(0, cli.run(args.toArray(String[]::new)), cli.err.toString());
        JsonObject o = JsonParser.parseString(cli.out.toString().strip()).getAsJsonObject();
        cli.out.getBuffer().setLength(0);
        return o;
    }

    @Test
    void interventionsChangeTheContinuationAndCoefficientZeroDoesNot() throws Exception {
        JsonObject plain = generate();
        assertEquals(5, plain.getAsJsonArray("ids").size());
        Path vector = dir.resolve("v.json");
        Files.writeString(vector, "[" + "0.5,".repeat(31) + "0.5]");
        assertEquals(
                plain.get("ids"),
                generate("blocks.1.hook_resid_pre add " + vector + " x 0").get("ids"));
        assertNotEquals(
                plain.get("ids"),
                generate("blocks.1.hook_resid_pre add " + vector + " x 20", "blocks.0.attn.hook_z[0,1] zero")
                        .get("ids"));
    }

    @Test
    void aPatchFromTheSourcePromptIsGeneratingFromIt() {
        List<String> args = new ArrayList<>(List.of(
                "generate",
                "--model",
                TestCheckpoints.dir("tiny-gpt2").toString(),
                "--text",
                "When Mary and John went to the store",
                "--source",
                "When Mary and John ran to the store",
                "--intervene",
                "blocks.0.hook_resid_pre patch",
                "--max-new-tokens",
                "4",
                "--json"));
        assertEquals(0, cli.run(args.toArray(String[]::new)), cli.err.toString());
        JsonObject patched = JsonParser.parseString(cli.out.toString().strip()).getAsJsonObject();
        cli.out.getBuffer().setLength(0);
        assertEquals(
                0,
                cli.run(new String[] {
                    "generate",
                    "--model",
                    TestCheckpoints.dir("tiny-gpt2").toString(),
                    "--text",
                    "When Mary and John ran to the store",
                    "--max-new-tokens",
                    "4",
                    "--json"
                }),
                cli.err.toString());
        JsonObject source = JsonParser.parseString(cli.out.toString().strip()).getAsJsonObject();
        assertEquals(source.get("ids"), patched.get("ids"));
    }

    @Test
    void theSyntaxReadsEveryPart() throws Exception {
        Generation.Steer s = GenerateCommand.parse("blocks.1.mlp.hook_post[3, 5] set 0.7 at generated");
        assertEquals("blocks.1.mlp.hook_post", s.change().site());
        assertEquals(Intervention.Op.SET, s.change().op());
        assertArrayEquals(new int[] {3, 5}, s.change().units());
        assertArrayEquals(new double[] {0.7}, s.change().value());
        assertEquals(Generation.Positions.GENERATED, s.where());
        s = GenerateCommand.parse("blocks.0.hook_resid_pre scale 0.25 at 0,2");
        assertEquals(0.25, s.change().coefficient());
        assertArrayEquals(new int[] {0, 2}, s.change().positions());
        s = GenerateCommand.parse("blocks.0.hook_resid_pre add 1.5 x -2");
        assertEquals(-2, s.change().coefficient());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> GenerateCommand.parse("blocks.0 double 2"));
        assertTrue(e.getMessage().contains("is not SITE[UNITS]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GenerateCommand.parse("blocks.0.hook_resid_pre add"));
        assertTrue(e.getMessage().contains("needs a value"), e.getMessage());
    }
}
