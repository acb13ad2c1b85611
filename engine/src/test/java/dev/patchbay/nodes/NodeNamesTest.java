package dev.patchbay.nodes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The node-name grammar against its conformance examples, proto/node-names.json (shared with both clients). */
class NodeNamesTest {
    private static JsonObject examples() throws IOException {
        return JsonParser.parseString(Files.readString(Path.of("..", "proto", "node-names.json")))
                .getAsJsonObject();
    }

    @Test
    void validNamesParseToTheirFieldsAndPrintBackUnchanged() throws IOException {
        int checked = 0;
        for (JsonElement e : examples().getAsJsonArray("valid")) {
            JsonObject x = e.getAsJsonObject();
            String name = x.get("name").getAsString();
            Node node = Node.parse(name);
            assertEquals(
                    new Node(
                            NodeKind.valueOf(x.get("kind").getAsString()),
                            x.get("layer").getAsInt(),
                            x.get("unit").getAsInt(),
                            x.get("position").getAsInt()),
                    node,
                    name);
            assertEquals(name, node.name());
            checked++;
        }
        assertTrue(checked >= 10);
    }

    @Test
    void aliasesParseToTheirCanonicalName() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("aliases")) {
            JsonObject x = e.getAsJsonObject();
            assertEquals(
                    x.get("canonical").getAsString(),
                    Node.parse(x.get("name").getAsString()).name());
        }
    }

    @Test
    void invalidNamesAreRefusedWithTheTextInTheMessage() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("invalid")) {
            String name = e.getAsString();
            IllegalArgumentException refused = assertThrows(
                    IllegalArgumentException.class, () -> Node.parse(name), () -> "accepted '" + name + "'");
            assertTrue(refused.getMessage().contains("'" + name + "'"), refused.getMessage());
        }
    }

    @Test
    void edgeNamesParseToTheirFieldsAndPrintBackUnchanged() throws IOException {
        int checked = 0;
        for (JsonElement e : examples().getAsJsonArray("edges")) {
            JsonObject x = e.getAsJsonObject();
            String name = x.get("name").getAsString();
            Edge edge = Edge.parse(name);
            assertEquals(
                    x.get("writer_kind").getAsString(),
                    "WRITER_" + edge.writer().kind(),
                    name);
            assertEquals(x.get("writer_layer").getAsInt(), edge.writer().layer(), name);
            assertEquals(x.get("writer_unit").getAsInt(), edge.writer().unit(), name);
            assertEquals(
                    x.get("reader_kind").getAsString(),
                    "READER_" + edge.reader().kind(),
                    name);
            assertEquals(x.get("reader_layer").getAsInt(), edge.reader().layer(), name);
            assertEquals(x.get("reader_unit").getAsInt(), edge.reader().unit(), name);
            assertEquals(x.get("position").getAsInt(), edge.position(), name);
            assertEquals(name, edge.name());
            checked++;
        }
        assertTrue(checked >= 8);
    }

    @Test
    void invalidEdgeNamesAreRefusedWithTheTextInTheMessage() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("invalid_edges")) {
            String name = e.getAsString();
            IllegalArgumentException refused = assertThrows(
                    IllegalArgumentException.class, () -> Edge.parse(name), () -> "accepted '" + name + "'");
            assertTrue(refused.getMessage().contains("'" + name + "'"), refused.getMessage());
        }
    }

    @Test
    void featureNamesParseToTheirFieldsAndPrintBackUnchanged() throws IOException {
        int checked = 0;
        for (JsonElement e : examples().getAsJsonArray("features")) {
            JsonObject x = e.getAsJsonObject();
            String name = x.get("name").getAsString();
            dev.patchbay.features.FeatureNode node = dev.patchbay.features.FeatureNode.parse(name);
            assertEquals(x.get("layer").getAsInt(), node.layer(), name);
            assertEquals(x.get("site").getAsString(), node.site(), name);
            assertEquals(x.get("feature").getAsInt(), node.feature(), name);
            assertEquals(x.get("position").getAsInt(), node.position(), name);
            assertEquals(name, node.name());
            checked++;
        }
        assertTrue(checked >= 10);
    }

    @Test
    void invalidFeatureNamesAreRefusedWithTheTextInTheMessage() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("invalid_features")) {
            String name = e.getAsString();
            IllegalArgumentException refused = assertThrows(
                    IllegalArgumentException.class,
                    () -> dev.patchbay.features.FeatureNode.parse(name),
                    () -> "accepted '" + name + "'");
            assertTrue(refused.getMessage().contains("'" + name + "'"), refused.getMessage());
        }
    }
}
