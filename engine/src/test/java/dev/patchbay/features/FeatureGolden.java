package dev.patchbay.features;

import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.checkpoint.SaeLensDictionary;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.List;

/**
 * testdata/golden/features.json (tools/make_feature_golden.py: transformers in float64, with hooks), and the
 * dictionaries it describes loaded beside their model.
 */
final class FeatureGolden {
    static final JsonObject FILE = TestCheckpoints.goldenJson("features.json");
    static final List<String> MODELS = List.of("tiny-gpt2", "tiny-llama");

    private FeatureGolden() {}

    /**
     * The tolerance relative to the largest value compared: transformers computes GPT-2 in float64 throughout (1e-10
     * is float64 round-off through two layers and a backward); Llama keeps float32 islands (RMSNorm, softmax, rotary
     * tables), so its golden values are float32-accurate, as in ParityTest (2e-5).
     */
    static double tolerance(String model) {
        return model.equals("tiny-gpt2") ? 1e-10 : 2e-5;
    }

    static List<JsonObject> dictionaries(String model) {
        List<JsonObject> out = new ArrayList<>();
        FILE.getAsJsonObject("models").getAsJsonArray(model).forEach(e -> out.add(e.getAsJsonObject()));
        return out;
    }

    static Dictionary load(LoadedModel model, JsonObject entry) {
        String name = entry.get("name").getAsString();
        return SaeLensDictionary.load(
                name,
                TestCheckpoints.dictionaryDir(model.name(), name),
                null,
                model.config(),
                model.transformer().hookSites(),
                model.transformer().compute().newScope(),
                DataType.FLOAT64);
    }

    static Metric metric() {
        return Metric.logitDiff(
                new int[] {FILE.get("answer").getAsInt()},
                new int[] {FILE.get("wrong").getAsInt()});
    }

    static PromptPair pair(JsonObject run) {
        return new PromptPair(ints(run.getAsJsonArray("clean")), ints(run.getAsJsonArray("noise")), metric());
    }

    static int[] ints(JsonArray a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsInt();
        }
        return out;
    }

    static double[] doubles(JsonArray a) {
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsDouble();
        }
        return out;
    }

    /** Sparse triples [position, index, value] as rows. */
    static List<double[]> triples(JsonArray a) {
        List<double[]> out = new ArrayList<>();
        for (JsonElement e : a) {
            out.add(doubles(e.getAsJsonArray()));
        }
        return out;
    }
}
