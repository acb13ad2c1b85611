package dev.patchbay;

import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.checkpoint.LoadedModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The tiny random checkpoints and golden files that tools/make_test_checkpoints.py writes. */
public final class TestCheckpoints {
    public static final List<String> ALL = List.of(
            "tiny-gpt2",
            "tiny-neox",
            "tiny-llama",
            "tiny-llama3",
            "tiny-qwen2",
            "tiny-qwen3",
            "tiny-mistral",
            "tiny-phi3",
            "tiny-gemma2",
            "tiny-gemma3",
            "tiny-olmo2");

    private TestCheckpoints() {}

    /** {@link #ALL}, for {@code @MethodSource}. */
    public static List<String> all() {
        return ALL;
    }

    public static Path dir(String name) {
        if (BUNDLED.contains(name)) {
            return Path.of("..", "models", name).toAbsolutePath().normalize();
        }
        return testdata("checkpoints/" + name);
    }

    /** The bundled default model, trained by tools/train_default_model.py, in models/ at the top. */
    public static final String DEFAULT_MODEL = "patchbay-tiny";

    /** The bundled models: the default GPT-2 and the Llama whose induction heads form. */
    public static final List<String> BUNDLED = List.of(DEFAULT_MODEL, "patchbay-tiny-llama");

    /** A tokenizer fixture's folder (its tokenizer.json): tools/make_gpt2_tokenizer.py writes testdata/tokenizers/gpt2. */
    public static Path tokenizerDir(String name) {
        return testdata("tokenizers/" + name);
    }

    /** A golden file of testdata/golden, parsed. */
    public static JsonObject goldenJson(String file) {
        try {
            return JsonParser.parseString(Files.readString(testdata("golden/" + file)))
                    .getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The tiny Llama test checkpoint copied into {@code dir} with room for 4096 positions (rotary, so the weights do
     * not change): long prompts for the memory tests.
     */
    public static Path longTinyLlama(Path dir) throws IOException {
        try (var files = Files.list(dir("tiny-llama"))) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        Path config = dir.resolve("config.json");
        String text = Files.readString(config);
        String longer = text.replace("\"max_position_embeddings\": 64", "\"max_position_embeddings\": 4096");
        if (longer.equals(text)) {
            throw new IllegalStateException("the tiny Llama's config changed shape: " + config);
        }
        Files.writeString(config, longer);
        return dir;
    }

    /** A dictionary tools/make_feature_golden.py wrote for a test checkpoint, in the SAELens layout. */
    public static Path dictionaryDir(String model, String name) {
        return testdata("dictionaries/" + model + "/" + name);
    }

    public static LoadedModel load(String name, DataType type) {
        return LoadedModel.load(dir(name), type);
    }

    public static Golden golden(String name) {
        return new Golden(goldenJson(name + ".json"));
    }

    /** testdata/ at the top of the checkout; every module's tests run in the module's folder, one below. */
    private static Path testdata(String path) {
        Path file = Path.of("..", "testdata").resolve(path).toAbsolutePath().normalize();
        if (!Files.exists(file)) {
            throw new IllegalStateException(
                    "missing test data " + file + " (tools/make_test_checkpoints.py writes it)");
        }
        return file;
    }

    /** Values transformers computed in float64 for a few prompts. */
    public record Golden(JsonObject json) {
        public int prompts() {
            return json.getAsJsonArray("prompts").size();
        }

        public int[] ids(int prompt) {
            JsonArray a = prompt(prompt).getAsJsonArray("ids");
            int[] ids = new int[a.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = a.get(i).getAsInt();
            }
            return ids;
        }

        public String text(int prompt) {
            return prompt(prompt).get("text").getAsString();
        }

        /** Logits of every position, flattened [T * vocab]. */
        public double[] logits(int prompt) {
            return flatten(prompt(prompt).get("logits"));
        }

        /** Hook-site values of prompt 0, flattened, with the batch axis dropped. */
        public double[] hook(String site) {
            return flatten(prompt(0).getAsJsonObject("hooks").get(site));
        }

        public List<String> hookSites() {
            return new ArrayList<>(prompt(0).getAsJsonObject("hooks").keySet());
        }

        private JsonObject prompt(int i) {
            return json.getAsJsonArray("prompts").get(i).getAsJsonObject();
        }

        private static double[] flatten(JsonElement e) {
            List<Double> out = new ArrayList<>();
            collect(e, out);
            return out.stream().mapToDouble(Double::doubleValue).toArray();
        }

        private static void collect(JsonElement e, List<Double> out) {
            if (e.isJsonArray()) {
                e.getAsJsonArray().forEach(c -> collect(c, out));
            } else {
                out.add(e.getAsDouble());
            }
        }
    }

    /** The largest absolute elementwise difference. */
    public static double maxAbsDiff(double[] a, double[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
