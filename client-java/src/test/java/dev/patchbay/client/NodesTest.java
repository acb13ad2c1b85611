package dev.patchbay.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.proto.v1.Node;
import dev.patchbay.proto.v1.NodeKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The client's node names against the conformance examples the server and the Python client share. */
class NodesTest {
    private static JsonObject examples() throws IOException {
        return JsonParser.parseString(Files.readString(Path.of("..", "proto", "node-names.json")))
                .getAsJsonObject();
    }

    @Test
    void validNamesParseToTheirFieldsAndPrintBackUnchanged() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("valid")) {
            JsonObject x = e.getAsJsonObject();
            String name = x.get("name").getAsString();
            Node node = Nodes.parse(name);
            assertEquals(NodeKind.valueOf(x.get("kind").getAsString()), node.getKind(), name);
            assertEquals(x.get("layer").getAsInt(), node.getLayer(), name);
            assertEquals(x.get("unit").getAsInt(), node.getUnit(), name);
            assertEquals(x.get("position").getAsInt(), node.getPosition(), name);
            assertEquals(name, node.getName());
            assertEquals(name, Nodes.name(node.getKind(), node.getLayer(), node.getUnit(), node.getPosition()));
        }
    }

    @Test
    void aliasesParseToTheirCanonicalName() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("aliases")) {
            JsonObject x = e.getAsJsonObject();
            assertEquals(
                    x.get("canonical").getAsString(),
                    Nodes.parse(x.get("name").getAsString()).getName());
        }
    }

    @Test
    void invalidNamesAreRefusedWithTheTextInTheMessage() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("invalid")) {
            String name = e.getAsString();
            IllegalArgumentException refused = assertThrows(
                    IllegalArgumentException.class, () -> Nodes.parse(name), () -> "accepted '" + name + "'");
            assertTrue(refused.getMessage().contains("'" + name + "'"), refused.getMessage());
        }
    }

    @Test
    void edgeNamesParseToTheirFieldsAndPrintBackUnchanged() throws IOException {
        int checked = 0;
        for (JsonElement e : examples().getAsJsonArray("edges")) {
            JsonObject x = e.getAsJsonObject();
            String name = x.get("name").getAsString();
            dev.patchbay.proto.v1.Edge edge = Nodes.parseEdge(name);
            assertEquals(
                    x.get("writer_kind").getAsString(), edge.getWriterKind().name(), name);
            assertEquals(x.get("writer_layer").getAsInt(), edge.getWriterLayer(), name);
            assertEquals(x.get("writer_unit").getAsInt(), edge.getWriterUnit(), name);
            assertEquals(
                    x.get("reader_kind").getAsString(), edge.getReaderKind().name(), name);
            assertEquals(x.get("reader_layer").getAsInt(), edge.getReaderLayer(), name);
            assertEquals(x.get("reader_unit").getAsInt(), edge.getReaderUnit(), name);
            assertEquals(x.get("position").getAsInt(), edge.getPosition(), name);
            assertEquals(name, Nodes.edgeName(edge));
            checked++;
        }
        assertTrue(checked >= 8);
    }

    @Test
    void invalidEdgeNamesAreRefusedWithTheTextInTheMessage() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("invalid_edges")) {
            String name = e.getAsString();
            IllegalArgumentException refused = assertThrows(
                    IllegalArgumentException.class, () -> Nodes.parseEdge(name), () -> "accepted '" + name + "'");
            assertTrue(refused.getMessage().contains("'" + name + "'"), refused.getMessage());
        }
    }

    @Test
    void featureNamesParseToTheirFieldsAndPrintBackUnchanged() throws IOException {
        int checked = 0;
        for (JsonElement e : examples().getAsJsonArray("features")) {
            JsonObject x = e.getAsJsonObject();
            String name = x.get("name").getAsString();
            dev.patchbay.proto.v1.FeatureNode node = Nodes.parseFeature(name);
            assertEquals(x.get("layer").getAsInt(), node.getLayer(), name);
            assertEquals(x.get("site").getAsString(), node.getSite(), name);
            assertEquals(x.get("feature").getAsInt(), node.getFeature(), name);
            assertEquals(x.get("position").getAsInt(), node.getPosition(), name);
            assertEquals(name, node.getName());
            checked++;
        }
        assertTrue(checked >= 10);
    }

    @Test
    void invalidFeatureNamesAreRefusedWithTheTextInTheMessage() throws IOException {
        for (JsonElement e : examples().getAsJsonArray("invalid_features")) {
            String name = e.getAsString();
            IllegalArgumentException refused = assertThrows(
                    IllegalArgumentException.class, () -> Nodes.parseFeature(name), () -> "accepted '" + name + "'");
            assertTrue(refused.getMessage().contains("'" + name + "'"), refused.getMessage());
        }
    }
}
