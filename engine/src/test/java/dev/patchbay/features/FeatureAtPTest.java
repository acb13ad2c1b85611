package dev.patchbay.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.FeatureGradientWork;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * Feature activations and AtP over features and error nodes against transformers with the same dictionaries
 * (testdata/golden/features.json): SAEs with ReLU, JumpReLU and TopK, at a residual site and at hook_z (read
 * flattened), and transcoders from hook_mlp_in to hook_mlp_out, on GPT-2 and Llama. Both pairs run in one batch.
 */
class FeatureAtPTest {
    static final List<String> MODELS = FeatureGolden.MODELS;

    @ParameterizedTest
    @FieldSource("MODELS")
    void featuresAndTheirEstimatesMatchTransformers(String modelName) {
        double tolerance = FeatureGolden.tolerance(modelName);
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            List<JsonObject> entries = FeatureGolden.dictionaries(modelName);
            List<Dictionary> dictionaries = new ArrayList<>();
            for (JsonObject entry : entries) {
                dictionaries.add(FeatureGolden.load(model, entry));
            }
            List<JsonObject> runs = new ArrayList<>();
            entries.get(0).getAsJsonArray("runs").forEach(r -> runs.add(r.getAsJsonObject()));
            List<PromptPair> pairs = runs.stream().map(FeatureGolden::pair).toList();
            FeatureEstimates estimates = new FeatureGradientWork(pairs, dictionaries).run(model.transformer());
            for (int d = 0; d < entries.size(); d++) {
                Dictionary dictionary = dictionaries.get(d);
                for (int p = 0; p < pairs.size(); p++) {
                    JsonObject run =
                            entries.get(d).getAsJsonArray("runs").get(p).getAsJsonObject();
                    String where = modelName + " " + dictionary.name() + " pair " + p;
                    FeatureEstimates.Pair pair = estimates.pairs().get(p);
                    assertEquals(run.get("clean_metric").getAsDouble(), pair.cleanMetric(), tolerance, where);
                    assertEquals(run.get("noise_metric").getAsDouble(), pair.noiseMetric(), tolerance, where);
                    FeatureEstimates.Block block = pair.byDictionary().get(dictionary.name());
                    List<double[]> golden = FeatureGolden.triples(run.getAsJsonArray("atp"));
                    assertSparseEquals(
                            golden, block.positions(), block.features(), block.estimates(), tolerance, where);
                    double[] errors = FeatureGolden.doubles(run.getAsJsonArray("error_atp"));
                    assertArrayEquals(errors, block.errors(), tolerance * scale(errors), where + " error node");
                    checkActivations(model, dictionary, pairs.get(p), run, tolerance, where);
                }
            }
        }
    }

    /**
     * Integrated gradients along the features (the feature-circuits recipe) against transformers: each dictionary's
     * site interpolated alone, the gradient averaged over the steps; every changed feature's estimate and the error's.
     * Two pairs of one length in one batch, and each dictionary in a work of its own (the runs of one dictionary must
     * not touch another's gradient).
     */
    @ParameterizedTest
    @FieldSource("MODELS")
    void integratedGradientsMatchTransformers(String modelName) {
        double tolerance = FeatureGolden.tolerance(modelName);
        int steps = FeatureGolden.FILE.get("ig_steps").getAsInt();
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            List<JsonObject> entries = FeatureGolden.dictionaries(modelName);
            List<Dictionary> dictionaries = new ArrayList<>();
            for (JsonObject entry : entries) {
                dictionaries.add(FeatureGolden.load(model, entry));
            }
            List<PromptPair> pairs = new ArrayList<>();
            entries.get(0).getAsJsonArray("runs").forEach(r -> pairs.add(FeatureGolden.pair(r.getAsJsonObject())));
            FeatureEstimates together =
                    new FeatureGradientWork(pairs, dictionaries, false, steps).run(model.transformer());
            for (int d = 0; d < entries.size(); d++) {
                Dictionary dictionary = dictionaries.get(d);
                FeatureEstimates alone =
                        new FeatureGradientWork(pairs, List.of(dictionary), false, steps).run(model.transformer());
                for (int p = 0; p < pairs.size(); p++) {
                    JsonObject run =
                            entries.get(d).getAsJsonArray("runs").get(p).getAsJsonObject();
                    String where = modelName + " " + dictionary.name() + " pair " + p + " IG";
                    List<double[]> golden = FeatureGolden.triples(run.getAsJsonArray("ig"));
                    double[] errors = FeatureGolden.doubles(run.getAsJsonArray("error_ig"));
                    // Relative to the block's largest value, features and error alike (Llama's float32 islands put
                    // about 2e-5 of it on a small error node).
                    double largest = scale(errors);
                    for (double[] g : golden) {
                        largest = Math.max(largest, Math.abs(g[2]));
                    }
                    for (FeatureEstimates result : List.of(together, alone)) {
                        FeatureEstimates.Block block =
                                result.pairs().get(p).byDictionary().get(dictionary.name());
                        assertSparseEquals(
                                golden, block.positions(), block.features(), block.estimates(), tolerance, where);
                        assertArrayEquals(errors, block.errors(), tolerance * largest, where + " error node");
                    }
                }
            }
        }
    }

    /** Both runs' features at every position, as transformers' hook values encode to. */
    private static void checkActivations(
            LoadedModel model, Dictionary d, PromptPair pair, JsonObject run, double tolerance, String where) {
        for (String side : new String[] {"clean", "noise"}) {
            int[] tokens = side.equals("clean") ? pair.clean() : pair.noise();
            try (NDManager scope = model.transformer().compute().newScope()) {
                ForwardResult r = model.transformer()
                        .forward(
                                scope,
                                TokenBatch.of(tokens),
                                Hooks.builder().cache(d.inputSite()).build());
                NDArray features =
                        d.encode(Dictionary.flat(r.activation(d.inputSite()))).get(0);
                NDArray active = features.neq(0);
                long[] where2 = active.nonzero().toLongArray();
                double[] values = features.booleanMask(active).toDoubleArray();
                int[] positions = new int[values.length];
                int[] indices = new int[values.length];
                for (int e = 0; e < values.length; e++) {
                    positions[e] = (int) where2[2 * e];
                    indices[e] = (int) where2[2 * e + 1];
                }
                assertSparseEquals(
                        FeatureGolden.triples(run.getAsJsonArray(side + "_features")),
                        positions,
                        indices,
                        values,
                        tolerance,
                        where + " " + side + " features");
            }
        }
    }

    static void assertSparseEquals(
            List<double[]> golden, int[] positions, int[] features, double[] values, double tolerance, String where) {
        assertEquals(golden.size(), values.length, where + ": entries");
        double largest = 0;
        for (double[] g : golden) {
            largest = Math.max(largest, Math.abs(g[2]));
        }
        for (int e = 0; e < values.length; e++) {
            double[] g = golden.get(e);
            assertEquals((int) g[0], positions[e], where + ": position of entry " + e);
            assertEquals((int) g[1], features[e], where + ": feature of entry " + e);
            assertEquals(g[2], values[e], tolerance * largest, where + ": value of entry " + e);
        }
    }

    static double scale(double[] values) {
        double largest = 0;
        for (double v : values) {
            largest = Math.max(largest, Math.abs(v));
        }
        return largest;
    }
}
