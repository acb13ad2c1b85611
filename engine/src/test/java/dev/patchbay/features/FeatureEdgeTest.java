package dev.patchbay.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.FeatureEdgePatchWork;
import dev.patchbay.passes.FeatureEdgeWork;
import dev.patchbay.passes.MetricBatch;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * EAP over feature edges and their exact patching, against transformers, and EAP against finite differences of the
 * model: an edge u@t' -> d@t is the derivative of the downstream node (f_d(t) times its effect on the metric per unit,
 * W_dec_D[d] . g_D(t); for an error term, g_D(t) . err(t)) along the upstream node's change at t' (the site overwritten
 * with site + h c, central differences, h = 1e-4, float64; g_D from a plain backward).
 * 1e-6 of the largest edge. Pairs of dictionaries on GPT-2 (hook_z -> resid_pre; resid_pre -> a transcoder) and Llama
 * (a transcoder's mlp_out -> resid_pre with TopK; resid_pre -> hook_z).
 */
class FeatureEdgeTest {
    static final List<String> MODELS = FeatureGolden.MODELS;
    private static final double H = 1e-4;
    private static final Map<String, List<String[]>> CHAINS = Map.of(
            "tiny-gpt2",
            List.of(new String[] {"z-jumprelu", "resid-relu"}, new String[] {"resid-relu", "mlp-transcoder"}),
            "tiny-llama",
            List.of(new String[] {"mlp-jumprelu-transcoder", "resid-topk"}, new String[] {"resid-topk", "z-relu"}));

    @ParameterizedTest
    @FieldSource("MODELS")
    void edgeEstimatesAreTheDownstreamFeaturesDerivativeTimesItsEffect(String modelName) {
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            List<JsonObject> entries = FeatureGolden.dictionaries(modelName);
            PromptPair pair = FeatureGolden.pair(
                    entries.get(0).getAsJsonArray("runs").get(0).getAsJsonObject());
            for (String[] chain : CHAINS.get(modelName)) {
                Dictionary up = load(model, entries, chain[0]);
                Dictionary down = load(model, entries, chain[1]);
                FeatureEdges edges = new FeatureEdgeWork(pair, up, down, 4).run(model.transformer());
                assertTrue(
                        edges.edges().size() > 10,
                        chain[0] + "->" + chain[1] + ": " + edges.edges().size());
                double largest = Math.abs(edges.edges().get(0).estimate());
                assertTrue(largest > 1e-4, "edges too small to test: " + largest);
                for (FeatureEdges.Edge e : edges.edges().subList(0, 6)) {
                    assertEquals(bruteForce(model, up, down, pair, e), e.estimate(), 1e-6 * largest, e.name());
                    assertTrue(e.from().position() <= e.to().position(), e.name());
                }
            }
        }
    }

    /**
     * Against transformers (testdata/golden/features.json, "edges"): the same downstream nodes chosen, every edge into
     * them (the Jacobian by autograd through the model and the downstream encoder), and exact patching of the largest
     * edges by two hooked runs. GPT-2 1e-10, Llama 2e-5 of the largest value, as for nodes.
     */
    @ParameterizedTest
    @FieldSource("MODELS")
    void edgesAndTheirExactPatchesMatchTransformers(String modelName) {
        double tolerance = FeatureGolden.tolerance(modelName);
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            List<JsonObject> entries = FeatureGolden.dictionaries(modelName);
            PromptPair pair = FeatureGolden.pair(
                    entries.get(0).getAsJsonArray("runs").get(0).getAsJsonObject());
            for (var element : FeatureGolden.FILE.getAsJsonObject("edges").getAsJsonArray(modelName)) {
                JsonObject golden = element.getAsJsonObject();
                Dictionary up = load(model, entries, golden.get("upstream").getAsString());
                Dictionary down = load(model, entries, golden.get("downstream").getAsString());
                String where = modelName + " " + up.name() + "->" + down.name();
                FeatureEdges edges = new FeatureEdgeWork(pair, up, down, 4).run(model.transformer());
                List<double[]> chosen = FeatureGolden.triples(golden.getAsJsonArray("downstream_nodes"));
                assertEquals(chosen.size(), edges.downstream().size(), where);
                for (int i = 0; i < chosen.size(); i++) {
                    assertEquals(
                            (int) chosen.get(i)[0], edges.downstream().get(i).position(), where);
                    assertEquals(
                            (int) chosen.get(i)[1], edges.downstream().get(i).feature(), where);
                }
                Map<String, Double> mine = new java.util.HashMap<>();
                edges.edges()
                        .forEach(e -> mine.put(
                                key(e.from().feature(), e.from().position(), e.to().feature(), e.to().position()),
                                e.estimate()));
                List<double[]> expected = FeatureGolden.triples(golden.getAsJsonArray("edges"));
                double largest =
                        expected.stream().mapToDouble(x -> Math.abs(x[4])).max().orElseThrow();
                assertEquals(expected.size(), mine.size(), where + ": edges");
                for (double[] x : expected) {
                    String k = key((int) x[0], (int) x[1], (int) x[2], (int) x[3]);
                    assertTrue(mine.containsKey(k), where + ": no edge " + k);
                    assertEquals(x[4], mine.get(k), tolerance * largest, where + " " + k);
                }
                List<double[]> exact = FeatureGolden.triples(golden.getAsJsonArray("exact_edges"));
                List<FeatureEdges.Edge> toPatch = new java.util.ArrayList<>();
                for (double[] x : exact) {
                    toPatch.add(new FeatureEdges.Edge(
                            new FeatureNode(up.layer(), up.shortSite(), (int) x[0], (int) x[1]),
                            new FeatureNode(down.layer(), down.shortSite(), (int) x[2], (int) x[3]),
                            0));
                }
                double[] effects = new FeatureEdgePatchWork(pair, up, down, toPatch, 4).run(model.transformer());
                double scale =
                        exact.stream().mapToDouble(x -> Math.abs(x[4])).max().orElseThrow();
                for (int i = 0; i < exact.size(); i++) {
                    assertEquals(
                            exact.get(i)[4],
                            effects[i],
                            tolerance * scale,
                            where + " exact " + toPatch.get(i).name());
                }
            }
        }
    }

    private static String key(int u, int t, int d, int s) {
        return u + "@" + t + "->" + d + "@" + s;
    }

    @ParameterizedTest
    @FieldSource("MODELS")
    void aDownstreamDictionaryBeforeTheUpstreamOneIsRefused(String modelName) {
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            List<JsonObject> entries = FeatureGolden.dictionaries(modelName);
            PromptPair pair = FeatureGolden.pair(
                    entries.get(0).getAsJsonArray("runs").get(0).getAsJsonObject());
            String[] chain = CHAINS.get(modelName).get(0);
            IllegalArgumentException refused = assertThrows(
                    IllegalArgumentException.class,
                    () -> new FeatureEdgeWork(pair, load(model, entries, chain[1]), load(model, entries, chain[0]), 4)
                            .run(model.transformer()));
            assertTrue(refused.getMessage().contains("does not come before"), refused.getMessage());
        }
    }

    private static Dictionary load(LoadedModel model, List<JsonObject> entries, String name) {
        return FeatureGolden.load(
                model,
                entries.stream()
                        .filter(e -> e.get("name").getAsString().equals(name))
                        .findFirst()
                        .orElseThrow());
    }

    private static double bruteForce(
            LoadedModel model, Dictionary up, Dictionary down, PromptPair pair, FeatureEdges.Edge e) {
        try (NDManager scope = model.transformer().compute().newScope()) {
            Hooks sites = Hooks.builder().cache(up.inputSite(), up.site()).build();
            ForwardResult clean = model.transformer().forward(scope, TokenBatch.of(pair.clean()), sites);
            ForwardResult noise = model.transformer().forward(scope, TokenBatch.of(pair.noise()), sites);
            int t = e.from().position();
            NDArray cleanIn = Dictionary.flat(clean.activation(up.inputSite()));
            NDArray noiseIn = Dictionary.flat(noise.activation(up.inputSite()));
            NDArray change;
            if (e.from().isError()) {
                NDArray cleanErr =
                        Dictionary.flat(clean.activation(up.site())).sub(up.reconstruct(up.encode(cleanIn), cleanIn));
                NDArray noiseErr =
                        Dictionary.flat(noise.activation(up.site())).sub(up.reconstruct(up.encode(noiseIn), noiseIn));
                change = noiseErr.sub(cleanErr).get(new NDIndex("0, {}", t));
            } else {
                double amount = up.encode(noiseIn)
                        .sub(up.encode(cleanIn))
                        .get(new NDIndex("0, {}, {}", t, e.from().feature()))
                        .getDouble();
                change = up.decoder().get(e.from().feature()).mul(amount);
            }
            NDArray site = clean.activation(up.site()).get(0);
            NDArray direction = Dictionary.flat(site.expandDims(0)).get(0).zerosLike();
            direction.set(new NDIndex("{}", t), change);
            direction = direction.reshape(site.getShape());
            // The downstream node's gradient-weighted value: f_d times its effect per unit, or g . err.
            ForwardResult gradient = model.transformer()
                    .forwardWithGradients(
                            scope,
                            TokenBatch.of(pair.clean()),
                            Hooks.builder().gradient(down.site()).build(),
                            new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null));
            NDArray g = Dictionary.flat(gradient.gradient(down.site())).get(new NDIndex("0, {}", e.to().position()));
            double plus = downstreamNode(model, scope, pair, up, down, site.add(direction.mul(H)), e.to(), g);
            double minus = downstreamNode(model, scope, pair, up, down, site.sub(direction.mul(H)), e.to(), g);
            return (plus - minus) / (2 * H);
        }
    }

    /** The downstream node in the run with the upstream site overwritten: f_d(t) (W_dec_D[d] . g), or g . err(t). */
    private static double downstreamNode(
            LoadedModel model,
            NDManager scope,
            PromptPair pair,
            Dictionary up,
            Dictionary down,
            NDArray site,
            FeatureNode d,
            NDArray g) {
        ForwardResult run = model.transformer()
                .forward(
                        scope,
                        TokenBatch.of(pair.clean()),
                        Hooks.builder()
                                .patch(up.site(), Patch.whole(0, site))
                                .cache(down.inputSite(), down.site())
                                .build());
        NDArray in = Dictionary.flat(run.activation(down.inputSite())).get(0).get(d.position());
        NDArray features = down.encode(in);
        if (d.isError()) {
            NDArray out = Dictionary.flat(run.activation(down.site())).get(0).get(d.position());
            return out.sub(down.reconstruct(features, in)).mul(g).sum().getDouble();
        }
        return features.get(d.feature()).getDouble()
                * down.decoder().get(d.feature()).mul(g).sum().getDouble();
    }
}
