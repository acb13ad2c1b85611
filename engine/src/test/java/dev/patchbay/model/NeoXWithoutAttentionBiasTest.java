package dev.patchbay.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GPT-NeoX configs with {@code attention_bias: false} (valid in transformers, where it removes the biases of both
 * query_key_value and dense) were refused for a missing bias tensor. The oracle is the same checkpoint with those
 * biases present and zeroed: transformers' bias-free attention computes exactly that.
 */
class NeoXWithoutAttentionBiasTest {
    @TempDir
    Path temp;

    @Test
    void noAttentionBiasesComputesWhatZeroedBiasesCompute() throws IOException {
        Path source = TestCheckpoints.dir("tiny-neox");
        Path zeroed = copyWith(source, temp.resolve("zeroed"), Edit.ZERO, false);
        Path without = copyWith(source, temp.resolve("without"), Edit.DROP, true);
        int[] ids = TestCheckpoints.golden("tiny-neox").ids(0);
        double[] expected = logits(zeroed, ids);
        double[] got = logits(without, ids);
        assertArrayEquals(expected, got, 0.0, "the same computation, bit for bit");
        assertNotEquals(logits(source, ids)[0], got[0], "the biases mattered: the test can tell");
    }

    private static double[] logits(Path dir, int[] ids) {
        try (LoadedModel m = LoadedModel.load(dir, DataType.FLOAT64);
                NDManager scope = NDManager.newBaseManager("PyTorch")) {
            return m.transformer()
                    .forward(scope, TokenBatch.of(ids), Hooks.NONE)
                    .logits()
                    .toDoubleArray();
        }
    }

    private enum Edit {
        ZERO,
        DROP
    }

    /** A copy of the checkpoint with its attention biases zeroed or dropped (and the config saying so). */
    private static Path copyWith(Path source, Path dir, Edit edit, boolean configWithoutBias) throws IOException {
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(source)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        if (configWithoutBias) {
            Path config = dir.resolve("config.json");
            JsonObject c = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
            c.addProperty("attention_bias", false);
            Files.writeString(config, c.toString());
        }
        Path file = dir.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(file);
        long headerLength =
                ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonObject header = JsonParser.parseString(new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8))
                .getAsJsonObject();
        int dataStart = 8 + (int) headerLength;
        Map<String, byte[]> data = new LinkedHashMap<>();
        JsonObject out = new JsonObject();
        long offset = 0;
        for (var e : header.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                out.add(e.getKey(), e.getValue());
                continue;
            }
            JsonObject t = e.getValue().getAsJsonObject();
            var range = t.getAsJsonArray("data_offsets");
            int begin = dataStart + range.get(0).getAsInt();
            int end = dataStart + range.get(1).getAsInt();
            byte[] values = java.util.Arrays.copyOfRange(bytes, begin, end);
            boolean attentionBias = e.getKey().endsWith("attention.query_key_value.bias")
                    || e.getKey().endsWith("attention.dense.bias");
            if (attentionBias && edit == Edit.DROP) {
                continue;
            }
            if (attentionBias) {
                values = new byte[values.length]; // zeros in any float format
            }
            JsonObject copy = t.deepCopy();
            var offsets = new com.google.gson.JsonArray();
            offsets.add(offset);
            offsets.add(offset + values.length);
            copy.add("data_offsets", offsets);
            out.add(e.getKey(), copy);
            data.put(e.getKey(), values);
            offset += values.length;
        }
        assertTrue(data.size() < header.size() - 1 || edit == Edit.ZERO, "attention biases were dropped");
        byte[] newHeader = out.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer written =
                ByteBuffer.allocate(8 + newHeader.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        written.putLong(newHeader.length).put(newHeader);
        data.values().forEach(written::put);
        Files.write(file, written.array());
        return dir;
    }
}
