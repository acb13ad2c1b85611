package dev.patchbay.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.features.Dictionary;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each broken dictionary gives one clear error naming the file and the field or tensor at fault; a good one of each
 * kind loads.
 */
class BadDictionaryTest {
    private static LoadedModel model;

    @TempDir
    Path temp;

    @BeforeAll
    static void load() {
        model = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void everyTestDictionaryLoadsWithItsShape() {
        try (Dictionary d = load(TestCheckpoints.dictionaryDir("tiny-gpt2", "z-jumprelu"), null)) {
            assertEquals("blocks.0.attn.hook_z", d.site());
            assertEquals(Dictionary.Activation.JUMP_RELU, d.activation());
            assertEquals(40, d.width());
            assertEquals(32, d.inputWidth());
        }
        try (Dictionary d = load(TestCheckpoints.dictionaryDir("tiny-gpt2", "mlp-transcoder"), null)) {
            assertTrue(d.isTranscoder());
            assertEquals("blocks.1.hook_mlp_in", d.inputSite());
            assertEquals("blocks.1.hook_mlp_out", d.site());
            assertEquals("mlp_out", d.shortSite());
        }
    }

    @Test
    void missingConfig() throws IOException {
        Path dir = copy("resid-relu");
        Files.delete(dir.resolve("cfg.json"));
        CheckpointException e = fails(dir, null);
        assertEquals(dir.resolve("cfg.json"), e.file());
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void missingWeights() throws IOException {
        Path dir = copy("resid-relu");
        Files.delete(dir.resolve("sae_weights.safetensors"));
        CheckpointException e = fails(dir, null);
        assertEquals(dir.resolve("sae_weights.safetensors"), e.file());
    }

    @Test
    void unsupportedSettingsAreRefusedNamingTheField() throws IOException {
        String[][] cases = {
            {"\"architecture\": \"standard\"", "\"architecture\": \"gated\"", "architecture \"gated\""},
            {"\"normalize_activations\": \"none\"", "\"normalize_activations\": \"layer_norm\"", "normalize_activations"
            },
            {"\"reshape_activations\": \"none\"", "\"reshape_activations\": \"hook_z\"", "reshape_activations"},
            {"\"d_sae\": 48", "\"d_sae\": 0", "d_sae"},
            {"\"d_sae\": 48", "\"d_sae\": 47", "tensor 'W_enc' has shape (32, 48) but cfg.json implies (32, 47)"},
            {"\"d_in\": 32", "\"d_in\": 33", "has width 32 in this model, but the dictionary's is 33"},
            {"\"architecture\": \"standard\"", "\"architecture\": \"jumprelu\"", "missing tensor 'threshold'"},
            {"\"architecture\": \"standard\"", "\"architecture\": \"topk\", \"k\": 49", "k: a TopK dictionary needs"},
            {"blocks.1.hook_resid_pre", "blocks.7.hook_resid_pre", "the model has no such site"},
            {"blocks.1.hook_resid_pre", "blocks.1.attn.hook_pattern", "a dictionary reads and writes only"},
            {"\"apply_b_dec_to_input\": true", "\"apply_b_dec_to_input\": 1", "apply_b_dec_to_input"},
        };
        for (String[] c : cases) {
            Path dir = copy("resid-relu");
            edit(dir.resolve("cfg.json"), c[0], c[1]);
            CheckpointException e = fails(dir, null);
            // Shapes are the weights' fault as cfg.json reads them; everything else is cfg.json's.
            String file = c[2].contains("tensor") ? "sae_weights.safetensors" : "cfg.json";
            assertEquals(dir.resolve(file), e.file(), c[1]);
            assertTrue(e.getMessage().contains(c[2]), c[1] + ": " + e.getMessage());
            deleteTree(dir);
        }
    }

    @Test
    void aSiteGivenThatIsNotTheOneTrainedAtIsRefusedNamingBoth() throws IOException {
        Path dir = copy("resid-relu");
        CheckpointException e = fails(dir, "blocks.0.hook_resid_pre");
        assertTrue(e.getMessage().contains("blocks.1.hook_resid_pre"), e.getMessage());
        assertTrue(e.getMessage().contains("blocks.0.hook_resid_pre"), e.getMessage());
    }

    @Test
    void aDictionaryWithoutAHookNameNeedsTheSiteGiven() throws IOException {
        Path dir = copy("resid-relu");
        edit(dir.resolve("cfg.json"), "\"hook_name\": \"blocks.1.hook_resid_pre\"", "\"hook_nom\": \"x\"");
        assertTrue(fails(dir, null).getMessage().contains("no site named"));
        try (Dictionary d = load(dir, "blocks.1.hook_resid_pre")) {
            assertEquals("resid_pre", d.shortSite());
        }
    }

    @Test
    void aTranscoderThatReadsBelowWhatItWritesIsRefused() throws IOException {
        Path dir = copy("mlp-transcoder");
        edit(
                dir.resolve("cfg.json"),
                "\"hook_name\": \"blocks.1.hook_mlp_in\"",
                "\"hook_name\": \"blocks.1.hook_resid_post\"");
        // The width matches (d_model); the order does not.
        assertTrue(fails(dir, null).getMessage().contains("after the site it writes"));
    }

    @Test
    void notANumberInAWeightIsRefusedNamingTheTensor() throws IOException {
        Path dir = copy("resid-relu");
        Path weights = dir.resolve("sae_weights.safetensors");
        SafetensorsFile file = SafetensorsFile.open(weights);
        long headerLength;
        try (FileChannel channel = FileChannel.open(weights, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            channel.read(length, 0);
            headerLength = length.flip().getLong();
            ByteBuffer nan = ByteBuffer.allocate(4)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putFloat(Float.NaN)
                    .flip();
            channel.write(nan, 8 + headerLength + file.tensors().get("W_dec").begin() + 12);
        }
        CheckpointException e = fails(dir, null);
        assertEquals(weights, e.file());
        assertTrue(e.getMessage().contains("'W_dec' holds NaN"), e.getMessage());
    }

    @Test
    void aTruncatedWeightsFileIsRefused() throws IOException {
        Path dir = copy("resid-relu");
        Path weights = dir.resolve("sae_weights.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        CheckpointException e = fails(dir, null);
        assertEquals(weights, e.file());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    private static Dictionary load(Path dir, String site) {
        return SaeLensDictionary.load(
                "d",
                dir,
                site,
                model.config(),
                model.transformer().hookSites(),
                model.transformer().compute().newScope(),
                DataType.FLOAT32);
    }

    private static CheckpointException fails(Path dir, String site) {
        return assertThrows(CheckpointException.class, () -> load(dir, site).close());
    }

    private Path copy(String name) throws IOException {
        Path dir = Files.createTempDirectory(temp, name);
        try (var files = Files.list(TestCheckpoints.dictionaryDir("tiny-gpt2", name))) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    private static void edit(Path file, String from, String to) throws IOException {
        String text = Files.readString(file);
        assertTrue(text.contains(from), from + " not found in " + file);
        Files.writeString(file, text.replace(from, to));
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }
}
