package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.features.Dictionary;
import dev.patchbay.features.FeatureNode;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.Scoped;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.PatchBatch;
import dev.patchbay.passes.PatchRow;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Exact patching of a dictionary's feature and error nodes (issue 33): a group of nodes is patched jointly by adding,
 * at each node's position (or every position), its change to the site: (f_noise - f_clean) W_dec[i] for a feature,
 * err_noise - err_clean for the error term, every other feature and the error held at their clean values. The run
 * resumes from the clean residual stream at the dictionary's layer. Patching every feature and the error at a
 * position adds noise - clean there: it is patching the site.
 *
 * <p>One dictionary per session: within one site, overwriting the site with clean + change is adding the change, as
 * nothing upstream of it moved. Verification of single nodes of several dictionaries uses one session each.
 */
public final class FeaturePatching implements GroupPatching<FeatureNode>, AutoCloseable {
    private final PassRunner runner;
    private final List<PromptPair> pairs;
    private final Dictionary dictionary;
    private final int chunk;
    private final ModelConfig config;
    private final List<NDManager> scopes = new ArrayList<>();
    private final List<ActivationPatching.CleanAndNoise> runs = new ArrayList<>();
    /** Per pair: the site's clean value [T, ...], each feature's change [T, width] and the error's change [T, d_out]. */
    private final List<Sides> sides = new ArrayList<>();

    private final ActivationPatching.Tally tally = new ActivationPatching.Tally();
    private final long start = System.nanoTime();

    private record Sides(NDArray cleanSite, NDArray featureChange, NDArray errorChange) {}

    /**
     * Runs each pair's clean and noise passes and encodes both runs' features.
     *
     * @param chunk groups per chunk (patched runs per pair between two streamed results)
     */
    public FeaturePatching(PassRunner runner, List<PromptPair> pairs, Dictionary dictionary, int chunk) {
        if (chunk < 1) {
            throw new IllegalArgumentException("chunk must be positive");
        }
        this.runner = runner;
        this.pairs = pairs;
        this.dictionary = dictionary;
        this.chunk = chunk;
        this.config = runner.model().config();
        PairBatch.validate(pairs, NodeSet.heads(), config);
        String residPre = HookSites.residPre(dictionary.layer());
        Set<String> cleanSites = new LinkedHashSet<>(List.of(residPre, dictionary.inputSite(), dictionary.site()));
        Set<String> noiseSites = new LinkedHashSet<>(List.of(dictionary.inputSite(), dictionary.site()));
        try {
            for (PromptPair pair : pairs) {
                NDManager scope = runner.model().compute().newScope();
                scopes.add(scope);
                ActivationPatching.CleanAndNoise run =
                        ActivationPatching.CleanAndNoise.of(runner, scope, pair, cleanSites, noiseSites, tally);
                runs.add(run);
                // Views the pair's scope owns: a clean run served from the cache belongs to the cache.
                NDArray cleanIn =
                        Dictionary.flat(Scoped.view(scope, run.clean().sites().get(dictionary.inputSite())));
                NDArray noiseIn =
                        Dictionary.flat(Scoped.view(scope, run.noise().sites().get(dictionary.inputSite())));
                NDArray cleanSite = Scoped.view(scope, run.clean().sites().get(dictionary.site()));
                NDArray cleanOut = Dictionary.flat(cleanSite);
                NDArray noiseOut =
                        Dictionary.flat(Scoped.view(scope, run.noise().sites().get(dictionary.site())));
                NDArray cleanFeatures = dictionary.encode(cleanIn);
                NDArray noiseFeatures = dictionary.encode(noiseIn);
                NDArray cleanError = cleanOut.sub(dictionary.reconstruct(cleanFeatures, cleanIn));
                NDArray noiseError = noiseOut.sub(dictionary.reconstruct(noiseFeatures, noiseIn));
                NDArray featureChange = noiseFeatures.sub(cleanFeatures).get(0);
                NDArray errorChange = noiseError.sub(cleanError).get(0);
                sides.add(new Sides(cleanSite.get(0), featureChange, errorChange));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * Refuses a node that is not of this session's dictionary or that the prompts do not have, naming it.
     */
    public void check(FeatureNode n) {
        String where = "node " + n.name() + ": ";
        if (!n.hookSite().equals(dictionary.site())) {
            throw new IllegalArgumentException(
                    where + "the dictionary '" + dictionary.name() + "' is at " + dictionary.site());
        }
        if (n.feature() >= dictionary.width()) {
            throw new IllegalArgumentException(
                    where + "feature " + n.feature() + " outside [0, " + dictionary.width() + ")");
        }
        int length = pairs.stream().mapToInt(PromptPair::length).min().orElseThrow();
        if (n.position() >= length) {
            throw new IllegalArgumentException(where + "position " + n.position() + " outside [0, " + length + ")");
        }
    }

    @Override
    public void patch(List<List<FeatureNode>> groups, Consumer consumer) {
        for (int g = 0; g < groups.size(); g++) {
            if (groups.get(g).isEmpty()) {
                throw new IllegalArgumentException("groups[" + g + "]: no nodes");
            }
            groups.get(g).forEach(this::check);
        }
        int layer = dictionary.layer();
        for (int from = 0; from < groups.size(); from += chunk) {
            int to = Math.min(groups.size(), from + chunk);
            double[][] perPair = new double[to - from][pairs.size()];
            for (int p = 0; p < pairs.size(); p++) {
                ActivationPatching.CleanAndNoise run = runs.get(p);
                List<PatchRow> rows = new ArrayList<>();
                NDManager scope = scopes.get(p);
                for (int g = from; g < to; g++) {
                    NDArray source = patched(scope, sides.get(p), groups.get(g));
                    rows.add(new PatchRow(
                            pairs.get(p).clean(),
                            layer,
                            run.clean().sites().get(HookSites.residPre(layer)),
                            List.of(new PatchRow.SitePatch(dictionary.site(), Patch.whole(0, source))),
                            pairs.get(p).metric(),
                            pairs.get(p).metricPosition(),
                            run.reference()));
                }
                double[] metrics = runner.run(new PatchBatch(rows));
                for (int i = 0; i < rows.size(); i++) {
                    perPair[i][p] = metrics[i] - run.cleanMetric();
                }
                rows.forEach(r -> r.patches().get(0).patch().source().close());
                tally.rows(rows.size(), (double) (config.nLayers() - layer) / config.nLayers());
            }
            GroupPatching.report(consumer, from, perPair);
        }
    }

    /**
     * The site's clean value [T, ...] plus every node's change in the group, owned by {@code scope}: the group's
     * features as a mask over [T, width] and its error terms as one over positions, so a group of any size is one
     * product with W_dec (the diagnostic patches thousands of features at once).
     */
    private NDArray patched(NDManager scope, Sides s, List<FeatureNode> group) {
        int length = (int) s.featureChange().getShape().get(0);
        int width = dictionary.width();
        float[] features = new float[length * width];
        float[] errors = new float[length];
        for (FeatureNode n : group) {
            int from = n.position() < 0 ? 0 : n.position();
            int to = n.position() < 0 ? length : n.position() + 1;
            for (int t = from; t < to; t++) {
                if (n.isError()) {
                    errors[t] = 1;
                } else {
                    features[t * width + n.feature()] = 1;
                }
            }
        }
        try (NDManager work = scope.newSubManager()) {
            NDArray featureChange = Scoped.view(work, s.featureChange());
            NDArray errorChange = Scoped.view(work, s.errorChange());
            NDArray featureMask =
                    work.create(features, new Shape(length, width)).toType(featureChange.getDataType(), false);
            NDArray errorMask = work.create(errors, new Shape(length, 1)).toType(errorChange.getDataType(), false);
            NDArray change = featureChange
                    .mul(featureMask)
                    .matMul(Scoped.view(work, dictionary.decoder()))
                    .add(errorChange.mul(errorMask));
            NDArray clean = Scoped.view(work, s.cleanSite());
            NDArray source = clean.add(change.reshape(clean.getShape()));
            source.attach(scope);
            return source;
        }
    }

    @Override
    public Cost cost() {
        return new Cost(tally.passes, tally.compute, (System.nanoTime() - start) / 1e9);
    }

    @Override
    public void close() {
        scopes.forEach(NDManager::close);
        scopes.clear();
    }
}
