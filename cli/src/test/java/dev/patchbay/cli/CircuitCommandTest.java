package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The circuit command end to end on tiny-gpt2's IOI pair. */
class CircuitCommandTest {
    private final CliRun cli = new CliRun();

    private JsonObject circuit(String... extra) {
        List<String> args = new ArrayList<>(List.of(
                "circuit",
                "--model",
                TestCheckpoints.dir("tiny-gpt2").toString(),
                "--clean",
                "When Mary and John went to the store, John gave a drink to",
                "--noise",
                "When Mary and John went to the store, Mary gave a drink to",
                "--answer",
                " Mary",
                "--wrong",
                " John",
                "--json"));
        args.addAll(List.of(extra));
        assertEquals(0, cli.run(args.toArray(String[]::new)), cli.err.toString());
        return JsonParser.parseString(cli.out.toString()).getAsJsonObject();
    }

    @Test
    void aDiscoveredCircuitEvaluatesToTheFaithfulnessItReports() {
        JsonObject found = circuit("--discover", "greedy", "--ranking", "eap", "--target", "0.8");
        double faithfulness = found.get("faithfulness").getAsDouble();
        assertTrue(Math.abs(1 - faithfulness) <= 0.2 + 1e-9, found.toString());
        List<String> edges = new ArrayList<>();
        found.getAsJsonArray("circuit").forEach(e -> edges.add(e.getAsString()));
        cli.out.getBuffer().setLength(0);
        JsonObject evaluated = circuit("--edges", String.join(",", edges));
        assertEquals(faithfulness, evaluated.get("faithfulness").getAsDouble(), 1e-6);
    }

    @Test
    void aPruneCurveRunsFromZeroToOne() {
        JsonObject curve = circuit("--prune", "--ranking", "eap");
        var points = curve.getAsJsonArray("prune_curve");
        assertEquals(0.0, points.get(0).getAsJsonObject().get("faithfulness").getAsDouble());
        assertEquals(
                1.0,
                points.get(points.size() - 1)
                        .getAsJsonObject()
                        .get("faithfulness")
                        .getAsDouble());
    }

    /** The empty circuit (everything ablated) is reachable by --edges too: its faithfulness is 0 by definition. */
    @Test
    void anEmptyEdgeListIsTheEmptyCircuit() {
        JsonObject empty = circuit("--edges", "");
        assertEquals(0.0, empty.get("faithfulness").getAsDouble(), 1e-9, empty.toString());
        assertEquals(0, empty.getAsJsonArray("circuit").size(), empty.toString());
    }

    @Test
    void oneModeAtATime() {
        int exit = cli.run("circuit", "--prune", "--discover", "acdc", "--clean", "a", "--noise", "b", "--answer", "c");
        assertEquals(1, exit);
        assertTrue(cli.err.toString().contains("give one of --edges, --prune or --discover"), cli.err.toString());
    }
}
