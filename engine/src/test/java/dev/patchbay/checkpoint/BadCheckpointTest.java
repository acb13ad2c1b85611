package dev.patchbay.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each broken checkpoint gives one clear error naming the file and the tensor, never a crash or a wrong model. */
class BadCheckpointTest {
    @TempDir
    Path temp;

    @Test
    void missingConfig() throws IOException {
        Path dir = copy("tiny-gpt2");
        Files.delete(dir.resolve("config.json"));
        CheckpointException e = fails(dir);
        assertEquals(dir.resolve("config.json"), e.file());
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void malformedConfig() throws IOException {
        Path dir = copy("tiny-gpt2");
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gpt2\", \"n_layer\": ");
        CheckpointException e = fails(dir);
        assertEquals(dir.resolve("config.json"), e.file());
        assertTrue(e.getMessage().contains("malformed JSON"), e.getMessage());
    }

    @Test
    void configFieldOfTheWrongType() throws IOException {
        Path dir = copy("tiny-gpt2");
        edit(dir.resolve("config.json"), "\"n_layer\": 2", "\"n_layer\": \"two\"");
        CheckpointException e = fails(dir);
        assertTrue(e.getMessage().contains("\"n_layer\" must be an integer"), e.getMessage());
    }

    @Test
    void sizesThatAreZeroFractionalOrTooLargeAreRefusedNamingTheKey() throws IOException {
        Path dir = copy("tiny-gpt2");
        Path config = dir.resolve("config.json");
        String original = Files.readString(config);
        for (String[] bad : new String[][] {
            {"\"n_head\": 4", "\"n_head\": 0", "head count (0) must be positive"},
            {"\"n_embd\": 32", "\"n_embd\": 4294967328", "\"n_embd\" must be an integer from 0 to 2147483647"},
            {"\"n_layer\": 2", "\"n_layer\": 2.5", "\"n_layer\" must be an integer"},
            {"\"n_layer\": 2", "\"n_layer\": -2", "\"n_layer\" must be an integer from 0"},
        }) {
            Files.writeString(config, original);
            edit(config, bad[0], bad[1]);
            CheckpointException e = fails(dir);
            assertEquals(dir.resolve("config.json"), e.file());
            assertTrue(e.getMessage().contains(bad[2]), bad[1] + ": " + e.getMessage());
        }
    }

    /**
     * The end-of-text tokens come from generation_config.json where it names them (null there: none), else from
     * config.json, one id or a list, as transformers' generate reads them; one outside the vocabulary is refused
     * naming the file that holds it.
     */
    @Test
    void endOfTextTokensAreReadAsTransformersReadsThem() throws IOException {
        Path dir = copy("tiny-gpt2");
        assertEquals(List.of(0), HfConfig.read(dir).endOfText());
        Path generation = dir.resolve("generation_config.json");
        Files.writeString(generation, "{\"eos_token_id\": [3, 7]}");
        assertEquals(List.of(3, 7), HfConfig.read(dir).endOfText());
        Files.writeString(generation, "{\"eos_token_id\": null}");
        assertEquals(List.of(), HfConfig.read(dir).endOfText());
        Files.writeString(generation, "{\"bos_token_id\": 1}");
        assertEquals(List.of(0), HfConfig.read(dir).endOfText());
        Files.writeString(generation, "{\"eos_token_id\": [3, 1000000]}");
        CheckpointException e = fails(dir);
        assertEquals(generation, e.file());
        assertTrue(
                e.getMessage().contains("\"eos_token_id\": end-of-text token 1000000 is outside the vocabulary"),
                e.getMessage());
        Files.writeString(generation, "{\"eos_token_id\": [3, \"x\"]}");
        e = fails(dir);
        assertTrue(e.getMessage().contains("\"eos_token_id[1]\" must be an integer"), e.getMessage());
        Files.delete(generation);
        edit(dir.resolve("config.json"), "\"eos_token_id\": 0", "\"eos_token_id\": 9");
        assertEquals(List.of(9), HfConfig.read(dir).endOfText());
    }

    @Test
    void unknownArchitecture() throws IOException {
        Path dir = copy("tiny-gpt2");
        edit(dir.resolve("config.json"), "\"model_type\": \"gpt2\"", "\"model_type\": \"bert\"");
        CheckpointException e = fails(dir);
        assertTrue(
                e.getMessage().contains("unknown architecture")
                        && e.getMessage().contains("bert"),
                e.getMessage());
    }

    @Test
    void unsupportedRopeScaling() throws IOException {
        Path dir = copy("tiny-llama");
        edit(dir.resolve("config.json"), "\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"");
        CheckpointException e = fails(dir);
        assertTrue(e.getMessage().contains("yarn"), e.getMessage());
    }

    @Test
    void llama3ScalingWithoutItsFactorsIsRefusedNamingTheKey() throws IOException {
        Path dir = copy("tiny-llama3");
        edit(dir.resolve("config.json"), "\"low_freq_factor\"", "\"low_freq_factoX\"");
        CheckpointException e = fails(dir);
        assertTrue(
                e.getMessage().contains("rope_parameters.low_freq_factor must be a positive number"), e.getMessage());
    }

    @Test
    void anUnknownLayerTypeIsRefused() throws IOException {
        Path dir = copy("tiny-gemma2");
        edit(dir.resolve("config.json"), "\"sliding_attention\"", "\"chunked_attention\"");
        CheckpointException e = fails(dir);
        assertTrue(e.getMessage().contains("unsupported layer_types[0] \"chunked_attention\""), e.getMessage());
    }

    /** Released Llama 3.1 configs say rope_scaling with a top-level rope_theta; transformers 5 writes rope_parameters. */
    @Test
    void olderRopeScalingSpellingReadsAsTheSameModel() throws IOException {
        Path dir = copy("tiny-llama3");
        Path config = dir.resolve("config.json");
        JsonObject json = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        JsonObject rope = json.remove("rope_parameters").getAsJsonObject();
        json.add("rope_theta", rope.remove("rope_theta"));
        json.add("rope_scaling", rope);
        Files.writeString(config, json.toString());
        assertEquals(HfConfig.read(TestCheckpoints.dir("tiny-llama3")), HfConfig.read(dir));
    }

    /**
     * Released Gemma 3 configs have no layer_types or per-type rope_parameters: a sliding_window_pattern, rope_theta
     * and rope_scaling for global layers, rope_local_base_freq for local ones. They read as the same model.
     */
    @Test
    void olderGemma3SpellingReadsAsTheSameModel() throws IOException {
        Path dir = copy("tiny-gemma3");
        Path config = dir.resolve("config.json");
        JsonObject json = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        json.remove("layer_types");
        json.addProperty("sliding_window_pattern", 2);
        JsonObject rope = json.remove("rope_parameters").getAsJsonObject();
        JsonObject global = rope.getAsJsonObject("full_attention");
        json.add("rope_theta", global.remove("rope_theta"));
        json.add("rope_scaling", global);
        json.add(
                "rope_local_base_freq",
                rope.getAsJsonObject("sliding_attention").get("rope_theta"));
        Files.writeString(config, json.toString());
        assertEquals(HfConfig.read(TestCheckpoints.dir("tiny-gemma3")), HfConfig.read(dir));
    }

    /** Qwen 2 without layer_types: with use_sliding_window, the layers from max_window_layers on slide. */
    @Test
    void qwenWindowsFollowMaxWindowLayersWithoutLayerTypes() throws IOException {
        Path dir = copy("tiny-qwen2");
        Path config = dir.resolve("config.json");
        JsonObject json = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        json.remove("layer_types");
        json.addProperty("use_sliding_window", true);
        json.addProperty("sliding_window", 5);
        json.addProperty("max_window_layers", 1);
        Files.writeString(config, json.toString());
        var layers = HfConfig.read(dir).layers();
        assertEquals(0, layers.get(0).slidingWindow());
        assertEquals(5, layers.get(1).slidingWindow());
        json.addProperty("use_sliding_window", false);
        Files.writeString(config, json.toString());
        assertEquals(0, HfConfig.read(dir).layers().get(1).slidingWindow(), "use_sliding_window false: no windows");
    }

    @Test
    void missingTensor() throws IOException {
        Path dir = copy("tiny-gpt2");
        // Renaming a tensor in the header keeps the file valid but leaves the model without ln_f.weight.
        edit(dir.resolve("model.safetensors"), "transformer.ln_f.weight", "transformer.ln_f.weighx");
        CheckpointException e = fails(dir);
        assertTrue(e.getMessage().contains("missing tensor 'transformer.ln_f.weight'"), e.getMessage());
    }

    @Test
    void tensorOfTheWrongShape() throws IOException {
        Path dir = copy("tiny-gpt2");
        // [64, 32] -> [32, 64]: same byte count, so only the shape check can catch it.
        edit(dir.resolve("model.safetensors"), "\"shape\":[64,32]", "\"shape\":[32,64]");
        CheckpointException e = fails(dir);
        assertEquals(dir.resolve("model.safetensors"), e.file());
        assertTrue(
                e.getMessage().contains("'transformer.wpe.weight' has shape (32, 64)")
                        && e.getMessage().contains("(64, 32)"),
                e.getMessage());
    }

    @Test
    void negativeOrOverflowingTensorShapesAreRefusedNamingTheTensor() throws IOException {
        Path dir = copy("tiny-gpt2");
        Path file = dir.resolve("model.safetensors");
        byte[] original = Files.readAllBytes(file);
        for (String[] bad : new String[][] {
            {"\"shape\":[32]", "\"shape\":[-2]", "negative dimension"},
            {"\"shape\":[32]", "\"shape\":[2097152,2097152,2097152]", "more elements than fit"},
        }) {
            byte[] bytes = original.clone();
            String header = new String(
                    bytes,
                    8,
                    (int) java.nio.ByteBuffer.wrap(bytes, 0, 8)
                            .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                            .getLong(),
                    java.nio.charset.StandardCharsets.ISO_8859_1);
            assertTrue(header.contains(bad[0]), "the test checkpoint's header changed: " + header);
            // The header must keep its length: drop the metadata entry to make room, pad with spaces (JSON allows).
            String edited = header.replace("\"__metadata__\":{\"format\":\"pt\"},", "")
                    .replaceFirst(java.util.regex.Pattern.quote(bad[0]), bad[1])
                    .stripTrailing();
            assertTrue(edited.length() <= header.length(), "no room to edit the header");
            edited = edited + " ".repeat(header.length() - edited.length());
            byte[] h = edited.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
            System.arraycopy(h, 0, bytes, 8, h.length);
            Files.write(file, bytes);
            CheckpointException e = fails(dir);
            assertEquals(file, e.file());
            assertTrue(e.getMessage().contains(bad[2]) && e.getMessage().contains("tensor '"), e.getMessage());
        }
    }

    @Test
    void truncatedSafetensors() throws IOException {
        Path dir = copy("tiny-neox");
        Path file = dir.resolve("model.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(f.length() - 1000);
        }
        CheckpointException e = fails(dir);
        assertEquals(file, e.file());
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("tensor '"), e.getMessage());
    }

    @Test
    void fileTooShortForAHeader() throws IOException {
        Path dir = copy("tiny-gpt2");
        Files.write(dir.resolve("model.safetensors"), new byte[] {1, 2, 3});
        assertTrue(fails(dir).getMessage().contains("truncated"));
    }

    @Test
    void shardIndexPointingToAMissingShard() throws IOException {
        Path dir = copy("tiny-llama");
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        CheckpointException e = fails(dir);
        assertEquals(dir.resolve("model.safetensors.index.json"), e.file());
        assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
    }

    @Test
    void missingTokenizer() throws IOException {
        Path dir = copy("tiny-gpt2");
        Files.delete(dir.resolve("tokenizer.json"));
        CheckpointException e = fails(dir);
        assertEquals(dir.resolve("tokenizer.json"), e.file());
        assertTrue(!e.getMessage().contains("save_pretrained"), e.getMessage());
        // A slow tokenizer's files: the refusal says how to write tokenizer.json.
        Files.writeString(dir.resolve("vocab.json"), "{}");
        Files.writeString(dir.resolve("merges.txt"), "");
        e = fails(dir);
        assertTrue(e.getMessage().contains("AutoTokenizer.from_pretrained(dir).save_pretrained(dir)"), e.getMessage());
    }

    /** A pickled checkpoint is refused with the conversion that makes it loadable. */
    @Test
    void aPytorchBinCheckpointIsRefusedSayingHowToConvertIt() throws IOException {
        Path dir = copy("tiny-gpt2");
        Files.move(dir.resolve("model.safetensors"), dir.resolve("pytorch_model.bin"));
        CheckpointException e = fails(dir);
        assertEquals(dir, e.file());
        assertTrue(e.getMessage().contains("save_pretrained(dir, safe_serialization=True)"), e.getMessage());
    }

    @Test
    void notADirectory() {
        assertTrue(fails(temp.resolve("nowhere")).getMessage().contains("not a directory"));
    }

    private CheckpointException fails(Path dir) {
        return assertThrows(
                CheckpointException.class, () -> LoadedModel.load(dir).close());
    }

    private Path copy(String name) throws IOException {
        Path dir = temp.resolve(name);
        Files.createDirectories(dir);
        try (var files = Files.list(TestCheckpoints.dir(name))) {
            files.forEach(rethrowing(f -> Files.copy(f, dir.resolve(f.getFileName()))));
        }
        return dir;
    }

    /** Replaces text of the same length in place, so binary files keep their layout. */
    private static void edit(Path file, String from, String to) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        String text = new String(bytes, StandardCharsets.ISO_8859_1);
        int at = text.indexOf(from);
        assertTrue(at >= 0, from + " not found in " + file);
        String edited = text.substring(0, at) + to + text.substring(at + from.length());
        Files.write(file, edited.getBytes(StandardCharsets.ISO_8859_1));
    }

    private interface IoConsumer<T> {
        void accept(T t) throws IOException;
    }

    private static <T> Consumer<T> rethrowing(IoConsumer<T> body) {
        return t -> {
            try {
                body.accept(t);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
    }
}
