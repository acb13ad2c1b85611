package dev.patchbay.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.attribution.FeaturePatching;
import dev.patchbay.attribution.NodePatching;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * Exact patching of feature and error nodes against transformers with the same change made by a hook
 * (testdata/golden/features.json): one feature at one position, one feature at every position, the error term at each
 * position; and the bookkeeping: every feature and the error patched together at a position is the site patched
 * there (Patchbay's own node patching), to float64 round-off.
 */
class FeaturePatchingTest {
    static final List<String> MODELS = FeatureGolden.MODELS;

    @ParameterizedTest
    @FieldSource("MODELS")
    void patchedFeaturesAndErrorsMatchTransformers(String modelName) {
        double tolerance = FeatureGolden.tolerance(modelName);
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            PassRunner runner = PassRunner.direct(model.transformer());
            for (JsonObject entry : FeatureGolden.dictionaries(modelName)) {
                Dictionary d = FeatureGolden.load(model, entry);
                JsonArray runs = entry.getAsJsonArray("runs");
                List<PromptPair> pairs = new ArrayList<>();
                runs.forEach(r -> pairs.add(FeatureGolden.pair(r.getAsJsonObject())));
                List<List<FeatureNode>> groups = new ArrayList<>();
                List<double[]> expected = new ArrayList<>(); // per group, per pair
                // The golden file picks each pair's own top features; patch each of them for every pair and compare
                // where the pair is the one it was picked for.
                List<int[]> owners = new ArrayList<>(); // group -> pair
                for (int p = 0; p < runs.size(); p++) {
                    JsonObject run = runs.get(p).getAsJsonObject();
                    for (JsonElement e : run.getAsJsonArray("exact")) {
                        double[] t = FeatureGolden.doubles(e.getAsJsonArray());
                        groups.add(List.of(new FeatureNode(d.layer(), d.shortSite(), (int) t[1], (int) t[0])));
                        expected.add(new double[] {t[2]});
                        owners.add(new int[] {p});
                    }
                    for (JsonElement e : run.getAsJsonArray("exact_all_positions")) {
                        double[] t = FeatureGolden.doubles(e.getAsJsonArray());
                        groups.add(List.of(new FeatureNode(d.layer(), d.shortSite(), (int) t[0], -1)));
                        expected.add(new double[] {t[1]});
                        owners.add(new int[] {p});
                    }
                    double[] errors = FeatureGolden.doubles(run.getAsJsonArray("exact_error"));
                    for (int t = 0; t < errors.length; t++) {
                        groups.add(List.of(new FeatureNode(d.layer(), d.shortSite(), FeatureNode.ERROR, t)));
                        expected.add(new double[] {errors[t]});
                        owners.add(new int[] {p});
                    }
                }
                double largest =
                        expected.stream().mapToDouble(e -> Math.abs(e[0])).max().orElse(1);
                try (FeaturePatching patching = new FeaturePatching(runner, pairs, d, 5)) {
                    double[][] perPair = new double[groups.size()][];
                    patching.patch(groups, (i, mean, effects) -> perPair[i] = effects);
                    for (int g = 0; g < groups.size(); g++) {
                        assertEquals(
                                expected.get(g)[0],
                                perPair[g][owners.get(g)[0]],
                                tolerance * largest,
                                modelName + " " + d.name() + " " + groups.get(g));
                    }
                    assertTrue(groups.size() > 10, "groups patched: " + groups.size());
                }
            }
        }
    }

    @ParameterizedTest
    @FieldSource("MODELS")
    void everyFeatureAndTheErrorTogetherArePatchingTheSite(String modelName) {
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            PassRunner runner = PassRunner.direct(model.transformer());
            for (JsonObject entry : FeatureGolden.dictionaries(modelName)) {
                Dictionary d = FeatureGolden.load(model, entry);
                List<PromptPair> pairs = new ArrayList<>();
                entry.getAsJsonArray("runs").forEach(r -> pairs.add(FeatureGolden.pair(r.getAsJsonObject())));
                int length = pairs.get(0).length();
                List<List<FeatureNode>> whole = new ArrayList<>();
                List<List<Node>> sites = new ArrayList<>();
                List<List<FeatureNode>> featuresOnly = new ArrayList<>();
                for (int t = 0; t < length; t++) {
                    int position = t;
                    List<FeatureNode> all = new ArrayList<>(IntStream.range(0, d.width())
                            .mapToObj(i -> new FeatureNode(d.layer(), d.shortSite(), i, position))
                            .toList());
                    featuresOnly.add(List.copyOf(all));
                    all.add(new FeatureNode(d.layer(), d.shortSite(), FeatureNode.ERROR, position));
                    whole.add(all);
                    sites.add(siteNodes(model, d, position));
                }
                double[] patchedFeatures;
                double[] patchedFeaturesOnly;
                try (FeaturePatching patching = new FeaturePatching(runner, pairs, d, 4)) {
                    patchedFeatures = patching.patch(whole);
                    patchedFeaturesOnly = patching.patch(featuresOnly);
                }
                double[] patchedSite;
                try (NodePatching patching = new NodePatching(
                        runner, pairs, sites.stream().flatMap(List::stream).toList(), 4)) {
                    patchedSite = patching.patch(sites);
                }
                double largest = 0;
                boolean errorMatters = false;
                for (int t = 0; t < length; t++) {
                    largest = Math.max(largest, Math.abs(patchedSite[t]));
                    errorMatters |= Math.abs(patchedFeaturesOnly[t] - patchedSite[t]) > 1e-6 * Math.abs(patchedSite[t]);
                }
                for (int t = 0; t < length; t++) {
                    assertEquals(patchedSite[t], patchedFeatures[t], 1e-10 * largest, d.name() + " at " + t);
                }
                // Without the error term the features alone are not the site: the check above can fail.
                assertTrue(errorMatters, d.name() + ": the error term changed nothing");
            }
        }
    }

    @ParameterizedTest
    @FieldSource("MODELS")
    void nodesOfAnotherSiteFeatureOrPositionAreRefusedByName(String modelName) {
        try (LoadedModel model = TestCheckpoints.load(modelName, DataType.FLOAT64)) {
            JsonObject entry = FeatureGolden.dictionaries(modelName).get(0);
            Dictionary d = FeatureGolden.load(model, entry);
            List<PromptPair> pairs = List.of(
                    FeatureGolden.pair(entry.getAsJsonArray("runs").get(0).getAsJsonObject()));
            try (FeaturePatching patching = new FeaturePatching(PassRunner.direct(model.transformer()), pairs, d, 4)) {
                for (FeatureNode bad : List.of(
                        new FeatureNode(d.layer(), d.shortSite(), d.width(), 0),
                        new FeatureNode(
                                d.layer(), d.shortSite(), 0, pairs.get(0).length()),
                        new FeatureNode(d.layer() + 1, d.shortSite(), 0, 0))) {
                    IllegalArgumentException e =
                            assertThrows(IllegalArgumentException.class, () -> patching.patch(List.of(List.of(bad))));
                    assertTrue(e.getMessage().contains(bad.name()), e.getMessage());
                }
            }
        }
    }

    /** The component nodes that make up a dictionary's whole site at one position. */
    private static List<Node> siteNodes(LoadedModel model, Dictionary d, int position) {
        String site = d.shortSite();
        return switch (site) {
            case "resid_pre" -> List.of(new Node(NodeKind.RESIDUAL, d.layer(), 0, position));
            case "mlp_out" -> List.of(new Node(NodeKind.MLP_OUT, d.layer(), 0, position));
            case "z" ->
                IntStream.range(0, model.config().nHeads())
                        .mapToObj(h -> new Node(NodeKind.HEAD_OUTPUT, d.layer(), h, position))
                        .toList();
            default -> throw new IllegalArgumentException(site);
        };
    }
}
