package dev.patchbay.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import dev.patchbay.passes.MetricBatch;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * AtP* over features (GradDrop, eq. 11) against its definition computed the long way: for each layer l a separate
 * forward and backward with the gradient stopped through l's residual write, each feature's |estimate| under it, the
 * sum over l divided by L - 1; in float64 to 1e-10 of the largest score. Every site kind the test dictionaries have
 * (resid_pre, hook_z, a transcoder's mlp_out) on GPT-2 and Llama, two pairs in one batch.
 */
class FeatureAtPStarTest {
    static final List<String> MODELS = FeatureGolden.MODELS;

    @ParameterizedTest
    @FieldSource("MODELS")
    void gradDropOverFeaturesIsTheMeanOfSeparateBackwardPasses(String modelName) {
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            List<Dictionary> dictionaries = new ArrayList<>();
            List<JsonObject> entries = FeatureGolden.dictionaries(modelName);
            entries.forEach(e -> dictionaries.add(FeatureGolden.load(model, e)));
            List<PromptPair> pairs = new ArrayList<>();
            entries.get(0).getAsJsonArray("runs").forEach(r -> pairs.add(FeatureGolden.pair(r.getAsJsonObject())));
            FeatureEstimates star = new FeatureGradientWork(pairs, dictionaries, true).run(model.transformer());
            FeatureEstimates plain = new FeatureGradientWork(pairs, dictionaries, false).run(model.transformer());
            int layers = model.config().nLayers();
            for (Dictionary d : dictionaries) {
                for (int p = 0; p < pairs.size(); p++) {
                    double[][] features = new double[pairs.get(p).length()][d.width()];
                    double[] errors = new double[pairs.get(p).length()];
                    for (int stop = 0; stop < layers; stop++) {
                        if (stop == d.layer() && !d.shortSite().startsWith("resid")) {
                            // A site inside the stopped layer reaches the metric only through its write: a zero
                            // gradient, which the separate backward cannot even run (nothing left needs one).
                            continue;
                        }
                        addMagnitudes(model, d, pairs.get(p), stop, features, errors);
                    }
                    FeatureEstimates.Block got =
                            star.pairs().get(p).byDictionary().get(d.name());
                    FeatureEstimates.Block signed =
                            plain.pairs().get(p).byDictionary().get(d.name());
                    // The same features as AtP lists: those whose activation changed.
                    assertArrayEquals(signed.positions(), got.positions());
                    assertArrayEquals(signed.features(), got.features());
                    double largest = 0;
                    for (int e = 0; e < got.size(); e++) {
                        largest = Math.max(largest, features[got.positions()[e]][got.features()[e]]);
                    }
                    assertTrue(largest > 0, d.name());
                    for (int e = 0; e < got.size(); e++) {
                        double expected = features[got.positions()[e]][got.features()[e]] / (layers - 1);
                        assertEquals(expected, got.estimates()[e], 1e-10 * largest, d.name() + " entry " + e);
                    }
                    for (int t = 0; t < errors.length; t++) {
                        errors[t] /= layers - 1;
                    }
                    assertArrayEquals(errors, got.errors(), 1e-10 * (FeatureAtPTest.scale(errors) + largest), d.name());
                }
            }
        }
    }

    @ParameterizedTest
    @FieldSource("MODELS")
    void gradDropIsNotOfferedAtResidMid(String modelName) {
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            Dictionary d = FeatureGolden.load(
                    model, FeatureGolden.dictionaries(modelName).get(0));
            Dictionary mid = new Dictionary(
                    "mid",
                    "blocks.1.hook_resid_mid",
                    "blocks.1.hook_resid_mid",
                    d.activation(),
                    d.k(),
                    d.subtractDecoderBias(),
                    d.encoder(),
                    d.encoderBias(),
                    d.decoder(),
                    d.decoderBias(),
                    d.threshold(),
                    d.skip());
            PromptPair pair = FeatureGolden.pair(FeatureGolden.dictionaries(modelName)
                    .get(0)
                    .getAsJsonArray("runs")
                    .get(0)
                    .getAsJsonObject());
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class, () -> new FeatureGradientWork(List.of(pair), List.of(mid), true));
            assertTrue(e.getMessage().contains("resid_mid"), e.getMessage());
        }
    }

    /** Adds each feature's and the error's |estimate| under the backward with layer {@code stop}'s write stopped. */
    private static void addMagnitudes(
            LoadedModel model, Dictionary d, PromptPair pair, int stop, double[][] features, double[] errors) {
        try (NDManager scope = model.transformer().compute().newScope()) {
            Hooks cache = Hooks.builder().cache(d.inputSite(), d.site()).build();
            ForwardResult clean = model.transformer()
                    .forwardWithGradients(
                            scope,
                            TokenBatch.of(pair.clean()),
                            Hooks.builder()
                                    .cache(d.inputSite(), d.site())
                                    .gradient(d.site())
                                    .stopGradientThrough(stop)
                                    .build(),
                            new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null));
            ForwardResult noise = model.transformer().forward(scope, TokenBatch.of(pair.noise()), cache);
            NDArray cleanIn = Dictionary.flat(clean.activation(d.inputSite()));
            NDArray noiseIn = Dictionary.flat(noise.activation(d.inputSite()));
            NDArray cleanF = d.encode(cleanIn);
            NDArray noiseF = d.encode(noiseIn);
            NDArray g = Dictionary.flat(clean.gradient(d.site()));
            double[] f = noiseF.sub(cleanF)
                    .mul(g.matMul(d.decoder().transpose()))
                    .abs()
                    .toDoubleArray();
            NDArray cleanErr = Dictionary.flat(clean.activation(d.site())).sub(d.reconstruct(cleanF, cleanIn));
            NDArray noiseErr = Dictionary.flat(noise.activation(d.site())).sub(d.reconstruct(noiseF, noiseIn));
            double[] err =
                    noiseErr.sub(cleanErr).mul(g).sum(new int[] {-1}).abs().toDoubleArray();
            int width = d.width();
            for (int t = 0; t < errors.length; t++) {
                errors[t] += err[t];
                for (int i = 0; i < width; i++) {
                    features[t][i] += f[t * width + i];
                }
            }
        }
    }
}
