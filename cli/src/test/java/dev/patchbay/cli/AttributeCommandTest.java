package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
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

    /** attribute on tiny-gpt2's IOI pair, with {@code extra} options. */
    private int attributeIoi(String... extra) {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of(
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
                " John"));
        args.addAll(java.util.List.of(extra));
        return run(args.toArray(String[]::new));
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
        assertEquals(0, attributeIoi("--top", "5"), err.toString());
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

    private static final String CLEAN_2 = "When John and Mary went to the store, Mary gave a drink to";
    private static final String NOISE_2 = "When John and Mary went to the store, John gave a drink to";

    private JsonObject attributeJson(String... extra) {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of(
                "attribute", "--model", TestCheckpoints.dir("tiny-gpt2").toString(), "--method", "atp", "--json"));
        args.addAll(java.util.List.of(extra));
        out.getBuffer().setLength(0);
        assertEquals(0, run(args.toArray(String[]::new)), err.toString());
        return JsonParser.parseString(out.toString().trim()).getAsJsonObject();
    }

    @Test
    void aPairsFileIsADistributionScoredByTheMeanAbsoluteEffect(@TempDir Path dir) throws IOException {
        Path pairs = dir.resolve("pairs.jsonl");
        Files.writeString(
                pairs,
                "{\"clean\": \"" + CLEAN + "\", \"noise\": \"" + NOISE
                        + "\", \"answer\": \" Mary\", \"wrong\": \" John\"}\n\n"
                        + "{\"clean\": \"" + CLEAN_2 + "\", \"noise\": \"" + NOISE_2
                        + "\", \"answer\": [\" John\"], \"wrong\": \" Mary\"}\n");
        JsonObject both = attributeJson("--pairs", pairs.toString());
        JsonObject first = attributeJson("--clean", CLEAN, "--noise", NOISE, "--answer", " Mary", "--wrong", " John");
        JsonObject second =
                attributeJson("--clean", CLEAN_2, "--noise", NOISE_2, "--answer", " John", "--wrong", " Mary");
        assertEquals(2, both.get("pairs").getAsInt());
        for (String node : both.getAsJsonObject("effects").keySet()) {
            // The paper's eq. 5: the absolute value inside the expectation over pairs.
            double mean = (Math.abs(first.getAsJsonObject("effects").get(node).getAsDouble())
                            + Math.abs(
                                    second.getAsJsonObject("effects").get(node).getAsDouble()))
                    / 2;
            assertEquals(mean, both.getAsJsonObject("effects").get(node).getAsDouble(), 1e-5, node);
        }
    }

    @Test
    void theTopNodesAreVerifiedAndWrittenToCsv(@TempDir Path dir) throws IOException {
        Path csv = dir.resolve("effects.csv");
        assertEquals(0, attributeIoi("--verify-top-k", "3", "--diagnostic", "--out", csv.toString()), err.toString());
        assertTrue(out.toString().contains("verified effect"), out.toString());
        assertTrue(out.toString().contains("diagnostic: 5 unverified nodes"), out.toString());
        java.util.List<String> lines = Files.readAllLines(csv);
        assertEquals("node,layer,estimate,verified_effect", lines.get(0));
        assertEquals(1 + 8, lines.size(), "a header and the 8 heads");
        for (int i = 1; i <= 3; i++) {
            assertTrue(!lines.get(i).endsWith(","), "the top three carry their verified effect: " + lines.get(i));
        }
        assertTrue(lines.get(4).endsWith(","), lines.get(4));
        // The JSON form carries them too, and its own file.
        JsonObject json = attributeJson(
                "--clean",
                CLEAN,
                "--noise",
                NOISE,
                "--answer",
                " Mary",
                "--wrong",
                " John",
                "--verify-top-k",
                "2",
                "--out",
                dir.resolve("effects.json").toString());
        assertEquals(2, json.getAsJsonArray("verified").size());
        assertEquals(
                json,
                JsonParser.parseString(Files.readString(dir.resolve("effects.json")))
                        .getAsJsonObject());
    }

    /** --edges: every edge's score as JSON, names in the edge grammar; the top edges verified and written to CSV. */
    @ParameterizedTest
    @ValueSource(strings = {"exact", "eap", "eap-ig", "atp-star"})
    void edgesArePrintedAsJsonAndVerified(String method) throws IOException {
        assertEquals(0, attributeIoi("--edges", "--method", method, "--verify-top-k", "2", "--json"), err.toString());
        JsonObject json = JsonParser.parseString(out.toString()).getAsJsonObject();
        JsonObject edges = json.getAsJsonObject("edges");
        // Every edge of tiny-gpt2 (2 layers of 4 heads), as the engine counts them.
        assertEquals(
                new dev.patchbay.nodes.EdgeGraph(
                                dev.patchbay.checkpoint.HfConfig.read(TestCheckpoints.dir("tiny-gpt2")))
                        .edges(),
                edges.size());
        edges.keySet()
                .forEach(name ->
                        assertEquals(name, dev.patchbay.nodes.Edge.parse(name).name()));
        assertEquals(method, json.get("method").getAsString());
        assertEquals(2, json.getAsJsonArray("verified").size());
        if (method.equals("exact")) {
            // Verification is the same exact edge patching.
            var first = json.getAsJsonArray("verified").get(0).getAsJsonObject();
            assertEquals(
                    first.get("estimate").getAsDouble(), first.get("effect").getAsDouble(), 1e-6);
        }
    }

    /**
     * --out report.html: the interactive report, self-contained (ECharts inlined, nothing to fetch), its data the
     * run's: every node or the top edges, ranked, with the verified effects and the diagnostic. Its page is the
     * Python client's, tested in a real browser there (client-python/tests/test_report.py).
     */
    @Test
    void theInteractiveReportIsOneSelfContainedFile(@TempDir Path dir) throws IOException {
        Path nodes = dir.resolve("heads.html");
        assertEquals(0, attributeIoi("--verify-top-k", "3", "--diagnostic", "--out", nodes.toString()), err.toString());
        JsonObject data = reportData(nodes);
        assertEquals("atp-star", data.get("method").getAsString());
        assertTrue(data.get("magnitudes").getAsBoolean());
        assertEquals(8, data.getAsJsonArray("nodes").size());
        var top = data.getAsJsonArray("nodes").get(0).getAsJsonObject();
        assertEquals(1, top.get("rank").getAsInt());
        assertTrue(top.get("verified_effect").isJsonPrimitive(), top.toString());
        assertTrue(data.getAsJsonArray("nodes")
                .get(5)
                .getAsJsonObject()
                .get("verified_effect")
                .isJsonNull());
        assertEquals(5, data.getAsJsonObject("diagnostic").get("count").getAsInt());
        Path edges = dir.resolve("edges.html");
        assertEquals(
                0,
                attributeIoi("--edges", "--method", "eap", "--verify-top-k", "2", "--out", edges.toString()),
                err.toString());
        JsonObject edgeData = reportData(edges);
        assertTrue(!edgeData.get("magnitudes").getAsBoolean(), "one pair's EAP scores are signed");
        assertEquals(4, edgeData.get("heads_per_layer").getAsInt());
        assertEquals(2, edgeData.get("n_layers").getAsInt());
        assertEquals("tiny-gpt2", edgeData.get("model").getAsString());
        String page = Files.readString(edges);
        assertTrue(page.contains("echarts") && !page.contains("__PATCHBAY_") && !page.contains("<script src"));
    }

    private static JsonObject reportData(Path file) throws IOException {
        String page = Files.readString(file);
        String open = "<script id=\"patchbay-data\" type=\"application/json\">";
        int start = page.indexOf(open) + open.length();
        return JsonParser.parseString(page.substring(start, page.indexOf("</script>", start)))
                .getAsJsonObject();
    }

    @Test
    void edgesPerPositionAreWrittenToCsv(@TempDir Path dir) throws IOException {
        Path csv = dir.resolve("edges.csv");
        assertEquals(
                0,
                attributeIoi("--edges", "--method", "eap", "--positions", "per-position", "--out", csv.toString()),
                err.toString());
        assertTrue(out.toString().contains("eap on edges of"), out.toString());
        java.util.List<String> lines = Files.readAllLines(csv);
        assertEquals("edge,writer,reader,position,estimate,verified_effect", lines.get(0));
        assertTrue(lines.get(1).split(",")[0].contains("@"), lines.get(1));
    }

    @Test
    void inconsistentOptionsAndBadPairLinesAreOneClearError(@TempDir Path dir) throws IOException {
        Path pairs = dir.resolve("pairs.jsonl");
        Files.writeString(
                pairs,
                "{\"clean\": \"" + CLEAN + "\", \"noise\": \"Hello\", \"answer\": \" Mary\", \"wrong\": \" John\"}\n");
        String model = TestCheckpoints.dir("tiny-gpt2").toString();
        String[][] cases = {
            {"--pairs", pairs.toString(), "--clean", CLEAN},
            {"--clean", CLEAN, "--noise", NOISE},
            {"--pairs", pairs.toString(), "--diagnostic"},
            {"--pairs", pairs.toString(), "--out", "effects.parquet"},
            {"--pairs", pairs.toString()},
            {"--pairs", dir.resolve("missing.jsonl").toString()},
        };
        String[] expected = {
            "--pairs replaces --clean",
            "give --clean, --noise and --answer",
            "--diagnostic bounds what verification left out",
            "must end in .json, .csv or .html",
            "pairs.jsonl line 1: --clean and --noise must have the same token length",
            "--pairs: cannot read",
        };
        for (int i = 0; i < cases.length; i++) {
            err.getBuffer().setLength(0);
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("attribute", "--model", model));
            args.addAll(java.util.List.of(cases[i]));
            assertEquals(1, run(args.toArray(String[]::new)), String.join(" ", cases[i]));
            assertTrue(err.toString().contains(expected[i]), expected[i] + " in: " + err);
        }
    }

    @Test
    void featuresOfTheDictionariesGivenAreScoredVerifiedAndWritten(@TempDir Path dir) throws IOException {
        Path csv = dir.resolve("features.csv");
        String residual = "resid=" + TestCheckpoints.dictionaryDir("tiny-gpt2", "resid-relu");
        String transcoder = "mlp=" + TestCheckpoints.dictionaryDir("tiny-gpt2", "mlp-transcoder");
        assertEquals(
                0,
                attributeIoi(
                        "--features",
                        "--dictionary",
                        residual,
                        "--dictionary",
                        transcoder,
                        "--method",
                        "atp",
                        "--verify-top-k",
                        "3",
                        "--out",
                        csv.toString()),
                err.toString());
        String table = out.toString();
        assertTrue(table.contains("atp on the features of tiny-gpt2"), table);
        assertTrue(table.contains("L1.resid_pre.") && table.contains("verified effect"), table);
        java.util.List<String> lines = Files.readAllLines(csv);
        assertEquals("name,dictionary,layer,site,feature,position,estimate,verified_effect", lines.get(0));
        assertEquals(3, lines.stream().skip(1).filter(l -> !l.endsWith(",")).count(), "verified rows");
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("L1.mlp_out.err@")), "the transcoder's error nodes");
    }

    @Test
    void featureEdgesBetweenTwoDictionariesArePrintedWithTheVerifiedOnes() {
        String upstream = "z=" + TestCheckpoints.dictionaryDir("tiny-gpt2", "z-jumprelu");
        String downstream = "resid=" + TestCheckpoints.dictionaryDir("tiny-gpt2", "resid-relu");
        assertEquals(
                0,
                attributeIoi(
                        "--features",
                        "--dictionary",
                        upstream,
                        "--dictionary",
                        downstream,
                        "--method",
                        "atp",
                        "--edge-nodes",
                        "2",
                        "--verify-edges",
                        "2",
                        "--json"),
                err.toString());
        JsonObject json = JsonParser.parseString(out.toString().trim()).getAsJsonObject();
        JsonObject block = json.getAsJsonArray("edges").get(0).getAsJsonObject();
        assertEquals("z", block.get("upstream").getAsString());
        assertEquals("resid", block.get("downstream").getAsString());
        assertTrue(block.getAsJsonObject("estimates").size() > 2, block.toString());
        assertEquals(2, block.getAsJsonObject("verified").size(), block.toString());
        assertTrue(block.getAsJsonObject("estimates").keySet().iterator().next().startsWith("L0.z."));
    }

    @Test
    void integratedGradientsTakeTheStepsGiven() {
        String residual = "resid=" + TestCheckpoints.dictionaryDir("tiny-gpt2", "resid-relu");
        assertEquals(
                0,
                attributeIoi("--features", "--dictionary", residual, "--method", "ig", "--ig-steps", "3", "--json"),
                err.toString());
        JsonObject json = JsonParser.parseString(out.toString().trim()).getAsJsonObject();
        assertEquals("ig", json.get("method").getAsString());
        // Two forwards and a backward, then two interpolated runs with their backward, for one dictionary.
        assertEquals(
                4 + 3 * 2, json.getAsJsonObject("cost").get("forward_passes").getAsDouble(), 1e-9);
    }

    @Test
    void featuresWithoutADictionaryOrWithABadOneAreOneClearError() {
        assertEquals(1, attributeIoi("--features"));
        assertTrue(err.toString().contains("--dictionary"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(1, attributeIoi("--features", "--dictionary", "x=" + TestCheckpoints.dir("tiny-gpt2")));
        assertTrue(err.toString().contains("cfg.json"), err.toString());
    }
}
