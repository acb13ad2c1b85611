package dev.patchbay.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.FeatureGradientWork;
import dev.patchbay.passes.MetricBatch;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * AtP over features against finite differences of the model itself: a feature's estimate is the metric's derivative
 * along its change, (m(site + h c) - m(site - h c)) / 2h with c = (f_i(noise) - f_i(clean)) W_dec[i] at its position
 * (the error term's: its change), from plain forwards with the site overwritten. Central differences in float64 with
 * h = 1e-4: truncation about h^2 times the third derivative, round-off about 1e-16 / h; 1e-6 of the largest estimate
 * covers both with room. The six largest |estimate| features and the largest error node of every test dictionary.
 */
class FeatureFiniteDifferenceTest {
    static final List<String> MODELS = FeatureGolden.MODELS;
    private static final double H = 1e-4;

    @ParameterizedTest
    @FieldSource("MODELS")
    void estimatesAreTheMetricsDerivativeAlongEachChange(String modelName) {
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            for (JsonObject entry : FeatureGolden.dictionaries(modelName)) {
                Dictionary d = FeatureGolden.load(model, entry);
                PromptPair pair =
                        FeatureGolden.pair(entry.getAsJsonArray("runs").get(0).getAsJsonObject());
                FeatureEstimates.Block block = new FeatureGradientWork(List.of(pair), List.of(d))
                        .run(model.transformer())
                        .pairs()
                        .get(0)
                        .byDictionary()
                        .get(d.name());
                List<Integer> order = new ArrayList<>();
                for (int e = 0; e < block.size(); e++) {
                    order.add(e);
                }
                order.sort((a, b) -> Double.compare(Math.abs(block.estimates()[b]), Math.abs(block.estimates()[a])));
                double largest = Math.abs(block.estimates()[order.get(0)]);
                int errorAt = 0;
                for (int t = 1; t < block.errors().length; t++) {
                    if (Math.abs(block.errors()[t]) > Math.abs(block.errors()[errorAt])) {
                        errorAt = t;
                    }
                }
                largest = Math.max(largest, Math.abs(block.errors()[errorAt]));
                for (int e : order.subList(0, Math.min(6, order.size()))) {
                    double derivative = derivative(model, d, pair, block.features()[e], block.positions()[e]);
                    assertEquals(
                            derivative,
                            block.estimates()[e],
                            1e-6 * largest,
                            d.name() + " f" + block.features()[e] + "@" + block.positions()[e]);
                }
                assertEquals(
                        derivative(model, d, pair, FeatureNode.ERROR, errorAt),
                        block.errors()[errorAt],
                        1e-6 * largest,
                        d.name() + " err@" + errorAt);
                assertTrue(largest > 1e-3, d.name() + ": estimates too small to test: " + largest);
            }
        }
    }

    /**
     * A skip transcoder (GPT-2's test transcoder given a random W_skip): its skip term belongs to neither the features
     * nor the error, and the error node's estimate must still be the derivative along the error's change.
     */
    @ParameterizedTest
    @FieldSource("MODELS")
    void aSkipTranscodersErrorNodeIsTheDerivativeAlongItsChange(String modelName) {
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            JsonObject entry = FeatureGolden.dictionaries(modelName).stream()
                    .filter(e -> e.get("name").getAsString().contains("transcoder"))
                    .findFirst()
                    .orElseThrow();
            Dictionary t = FeatureGolden.load(model, entry);
            NDManager manager = t.decoder().getManager();
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(5);
            Dictionary d = new Dictionary(
                    "skip",
                    t.inputSite(),
                    t.site(),
                    t.activation(),
                    t.k(),
                    false,
                    t.encoder(),
                    t.encoderBias(),
                    t.decoder(),
                    t.decoderBias(),
                    t.threshold(),
                    manager.randomNormal(new ai.djl.ndarray.types.Shape(t.outputWidth(), t.inputWidth()))
                            .toType(DataType.FLOAT64, false)
                            .mul(0.2));
            PromptPair pair =
                    FeatureGolden.pair(entry.getAsJsonArray("runs").get(0).getAsJsonObject());
            double[] errors = new FeatureGradientWork(List.of(pair), List.of(d))
                    .run(model.transformer())
                    .pairs()
                    .get(0)
                    .byDictionary()
                    .get("skip")
                    .errors();
            double largest = FeatureAtPTest.scale(errors);
            assertTrue(largest > 1e-3, "error estimates too small to test: " + largest);
            for (int position = 0; position < errors.length; position++) {
                assertEquals(
                        derivative(model, d, pair, FeatureNode.ERROR, position),
                        errors[position],
                        1e-6 * largest,
                        "err@" + position);
            }
        }
    }

    /** The central difference of the metric along the node's change at its position. */
    private static double derivative(LoadedModel model, Dictionary d, PromptPair pair, int feature, int position) {
        try (NDManager scope = model.transformer().compute().newScope()) {
            Hooks cache = Hooks.builder().cache(d.inputSite(), d.site()).build();
            ForwardResult clean = model.transformer().forward(scope, TokenBatch.of(pair.clean()), cache);
            ForwardResult noise = model.transformer().forward(scope, TokenBatch.of(pair.noise()), cache);
            NDArray cleanIn = Dictionary.flat(clean.activation(d.inputSite()));
            NDArray noiseIn = Dictionary.flat(noise.activation(d.inputSite()));
            NDArray cleanF = d.encode(cleanIn);
            NDArray noiseF = d.encode(noiseIn);
            NDArray site = clean.activation(d.site()).get(0);
            NDArray change;
            if (feature == FeatureNode.ERROR) {
                NDArray cleanErr = Dictionary.flat(clean.activation(d.site())).sub(d.reconstruct(cleanF, cleanIn));
                NDArray noiseErr = Dictionary.flat(noise.activation(d.site())).sub(d.reconstruct(noiseF, noiseIn));
                change = noiseErr.sub(cleanErr).get(0);
            } else {
                change = noiseF.sub(cleanF)
                        .get(0)
                        .get(":, {}:{}", feature, feature + 1)
                        .mul(d.decoder().get(feature));
            }
            NDArray only = change.zerosLike();
            only.set(new ai.djl.ndarray.index.NDIndex("{}", position), change.get(position));
            only = only.reshape(site.getShape());
            double up = metric(model, scope, pair, d.site(), site.add(only.mul(H)));
            double down = metric(model, scope, pair, d.site(), site.sub(only.mul(H)));
            return (up - down) / (2 * H);
        }
    }

    private static double metric(LoadedModel model, NDManager scope, PromptPair pair, String site, NDArray value) {
        ForwardResult run = model.transformer()
                .forward(
                        scope,
                        TokenBatch.of(pair.clean()),
                        Hooks.builder().patch(site, Patch.whole(0, value)).build());
        MetricBatch metric = new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null);
        return metric.apply(run.logits()).toType(DataType.FLOAT64, false).getDouble(0);
    }
}
