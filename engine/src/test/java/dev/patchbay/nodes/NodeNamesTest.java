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
}
