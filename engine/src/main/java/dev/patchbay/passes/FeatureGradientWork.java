package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.features.Dictionary;
import dev.patchbay.features.FeatureEstimates;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.GradientSession;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.Precision;
import dev.patchbay.model.Scalars;
import dev.patchbay.model.Scoped;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToIntFunction;

/**
 * AtP or AtP* over the features and error nodes of some dictionaries, for a batch of pairs (issue 33): a noise
 * forward, a clean forward with the metric's backward, each keeping the dictionaries' input and output sites. A
 * feature's estimate at a position is (f_noise - f_clean) (W_dec[i] . g) with g the metric's gradient at the
 * dictionary's site in the clean run (eq. 4 with the feature as the node: its write to the site is f_i W_dec[i]); the
 * error node's is (err_noise - err_clean) . g. Only features whose activation differs between the runs are read back.
 *
 * <p>With GradDrop (AtP*), each estimate is the mean over the backward variants of its |estimate| (eq. 11), on the
 * schedule the node passes use ({@link GradDrop}): a feature is a node of its site. The QK fix does not apply: it
 * recomputes the attention softmax for a node whose change enters the scores directly (a query or a key), and no
 * dictionary writes a query or key site; a residual-stream feature reaches the scores through the norms and
 * projections of every later layer, as a residual node does, which AtP* also leaves to GradDrop.
 *
 * <p>With {@code igSteps} > 1, integrated gradients along the features, the feature-circuits recipe (Marks et al.
 * 2024, their code's {@code _pe_ig}): for each dictionary alone, its site set to clean + a (noise - clean) for
 * a = k / igSteps, k = 0 .. igSteps - 1 (its features and its error term interpolated together, since decoding is
 * linear), the metric's gradient there averaged over the steps and used in place of the clean run's (whose gradient
 * is step 0).
 *
 * @param gradDrop AtP* (GradDrop's mean |estimate|) rather than AtP's signed estimates
 * @param igSteps integrated gradients' steps (> 1), or 0 for AtP's single gradient
 */
public record FeatureGradientWork(List<PromptPair> pairs, List<Dictionary> dictionaries, boolean gradDrop, int igSteps)
        implements Pass<FeatureEstimates> {
    public FeatureGradientWork {
        pairs = List.copyOf(pairs);
        dictionaries = List.copyOf(dictionaries);
        if (pairs.isEmpty() || dictionaries.isEmpty()) {
            throw new IllegalArgumentException("feature AtP needs at least one pair and one dictionary");
        }
        if (igSteps == 1 || igSteps < 0 || (igSteps > 0 && gradDrop)) {
            throw new IllegalArgumentException("integrated gradients take 2 or more steps, without GradDrop; got "
                    + igSteps + (gradDrop ? " with GradDrop" : ""));
        }
        for (Dictionary d : dictionaries) {
            if (gradDrop && d.shortSite().equals("resid_mid")) {
                // Its own layer's variant leaves it the gradient of resid_post through the skip alone, which no
                // partial backward from a resid_pre reaches.
                throw new IllegalArgumentException(
                        "dictionary '" + d.name() + "': AtP* (GradDrop) is not offered at" + " resid_mid; use atp");
            }
        }
    }

    /** AtP's signed estimates. */
    public FeatureGradientWork(List<PromptPair> pairs, List<Dictionary> dictionaries) {
        this(pairs, dictionaries, false, 0);
    }

    /** AtP's signed estimates, or AtP*'s magnitudes. */
    public FeatureGradientWork(List<PromptPair> pairs, List<Dictionary> dictionaries, boolean gradDrop) {
        this(pairs, dictionaries, gradDrop, 0);
    }

    @Override
    public int rowCount() {
        return pairs.size();
    }

    @Override
    public int length() {
        return pairs.stream().mapToInt(PromptPair::length).max().orElse(1);
    }

    /**
     * The plain AtP pass's row (the clean graph dominates; GradDrop's as the node pass has it) and, per dictionary,
     * the dense arrays of its features that live at once: both runs' features, their difference, the gradient's
     * projection, the estimates and the mask, six [T, width] arrays, and GradDrop's sum a seventh.
     */
    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        long perRow = PassMemory.gradientRowBytes(config, paddedLength, elementBytes, false, gradDrop);
        long features = 0;
        for (Dictionary d : dictionaries) {
            features += (gradDrop ? 7L : 6L) * paddedLength * d.width() * elementBytes;
        }
        // Integrated gradients add one batch of igSteps - 1 interpolated runs of one pair at a time, with its graph.
        long interpolated = igSteps > 1 ? (igSteps - 1L) * perRow : 0;
        return pairs.size() * (perRow + features) + interpolated;
    }

    @Override
    public FeatureEstimates run(PassContext context) {
        return run(context.model());
    }

    /** Runs the passes on the calling thread. */
    public FeatureEstimates run(HookedTransformer model) {
        long start = System.nanoTime();
        PairBatch batch = PairBatch.of(pairs);
        int layers = model.config().nLayers();
        Set<String> sites = new LinkedHashSet<>();
        Set<String> gradients = new LinkedHashSet<>();
        for (Dictionary d : dictionaries) {
            sites.add(d.inputSite());
            sites.add(d.site());
            gradients.add(d.site());
        }
        Set<String> cleanSites = new LinkedHashSet<>(sites);
        if (gradDrop) {
            for (int l = 0; l < layers; l++) {
                cleanSites.add(HookSites.residPre(l));
                gradients.add(HookSites.residPost(l));
            }
        }
        try (NDManager scope = model.compute().newScope();
                GradientSession session = model.openGradientSession(
                        scope,
                        batch.clean,
                        Hooks.builder()
                                .cache(cleanSites)
                                .gradient(gradients)
                                .unembedOnly(batch.positions)
                                .build(),
                        batch.unembeddedMetric(scope, null))) {
            ForwardResult clean = session.result();
            session.backward();
            NDArray reference = Precision.widened(
                            batch.unembeddedMetric(scope, null).atPositions(clean.logits()))
                    .logSoftmax(-1)
                    .stopGradient();
            ForwardResult noise = model.forward(
                    scope,
                    batch.noise,
                    Hooks.builder().cache(sites).unembedOnly(batch.positions).build());
            double[] cleanMetrics = doubles(clean.metric());
            double[] noiseMetrics =
                    doubles(batch.unembeddedMetric(scope, reference).apply(noise.logits()));
            Map<Dictionary, Changes> changes = new LinkedHashMap<>();
            for (Dictionary d : dictionaries) {
                changes.put(d, Changes.of(scope, d, clean, noise));
            }
            Map<Dictionary, NDArray[]> estimates = new LinkedHashMap<>();
            double passes;
            double compute;
            if (gradDrop) {
                Scores scores = new Scores(clean, changes, new LinkedHashMap<>(), new LinkedHashMap<>());
                double variants = GradDrop.run(new Variants(session, clean, gradients), scores, layers);
                double mean = 1.0 / GradDrop.informativeVariants(layers);
                for (Dictionary d : dictionaries) {
                    estimates.put(d, new NDArray[] {
                        Scalars.times(scores.features().get(d), mean),
                        Scalars.times(scores.errors().get(d), mean)
                    });
                }
                // As the node pass counts them: two forwards and L backwards in the paper's unit; in compute, two
                // forwards, one full backward and the partial backwards below the dropped layers.
                passes = pairs.size() * (2 + 2.0 * layers);
                compute = pairs.size() * (4 + variants);
            } else if (igSteps > 1) {
                for (Dictionary d : dictionaries) {
                    NDArray meanGradient = interpolatedGradient(model, scope, d, clean, noise);
                    estimates.put(d, changes.get(d).estimates(meanGradient));
                }
                // Two forwards and one backward per pair, then igSteps - 1 forwards and backwards per dictionary.
                passes = pairs.size() * (4.0 + 3.0 * (igSteps - 1) * dictionaries.size());
                compute = passes;
            } else {
                changes.forEach((d, c) -> estimates.put(d, c.estimates(clean.gradient(d.site()))));
                // Two forward passes and one backward, per pair.
                passes = 4.0 * pairs.size();
                compute = passes;
            }
            List<Map<String, FeatureEstimates.Block>> blocks = new ArrayList<>();
            for (int p = 0; p < pairs.size(); p++) {
                blocks.add(new LinkedHashMap<>());
            }
            estimates.forEach((d, e) -> readBack(d, changes.get(d).changed, e[0], e[1], blocks));
            List<FeatureEstimates.Pair> out = new ArrayList<>();
            for (int p = 0; p < pairs.size(); p++) {
                out.add(new FeatureEstimates.Pair(cleanMetrics[p], noiseMetrics[p], blocks.get(p)));
            }
            return new FeatureEstimates(out, new Cost(passes, compute, (System.nanoTime() - start) / 1e9));
        }
    }

    /**
     * The metric's gradient at {@code d}'s site averaged over the interpolated runs, [B, T, ...] as the site: the clean
     * run's is step 0; steps 1 .. igSteps - 1 run as one batch per pair, each pair at its own length (zeros beyond).
     */
    private NDArray interpolatedGradient(
            HookedTransformer model, NDManager scope, Dictionary d, ForwardResult clean, ForwardResult noise) {
        NDArray cleanGradient = clean.gradient(d.site());
        List<NDArray> perPair = new ArrayList<>();
        for (int p = 0; p < pairs.size(); p++) {
            PromptPair pair = pairs.get(p);
            int length = pair.length();
            NDIndex own = new NDIndex("{}, 0:{}", p, length);
            // Values, not graph: the clean run's graph is still open, and a backward through a patch source made from
            // it
            // would add to its gradients.
            NDArray cleanSite =
                    Scoped.view(scope, clean.activation(d.site())).get(own).stopGradient();
            NDArray change = Scoped.view(scope, noise.activation(d.site()))
                    .get(own)
                    .sub(cleanSite)
                    .stopGradient();
            int rows = igSteps - 1;
            Hooks.Builder hooks = Hooks.builder().gradient(d.site());
            int[][] tokens = new int[rows][];
            List<dev.patchbay.nodes.Metric> metrics = new ArrayList<>();
            for (int k = 1; k < igSteps; k++) {
                hooks.patch(d.site(), Patch.whole(k - 1, cleanSite.add(Scalars.times(change, (double) k / igSteps))));
                tokens[k - 1] = pair.clean();
                metrics.add(pair.metric());
            }
            int[] positions = new int[rows];
            Arrays.fill(positions, pair.metricPosition());
            hooks.unembedOnly(positions);
            ForwardResult run = model.forwardWithGradients(
                    scope, TokenBatch.of(tokens), hooks.build(), new MetricBatch(scope, metrics, new int[rows], null));
            NDArray sum = run.gradient(d.site())
                    .sum(new int[] {0})
                    .add(Scoped.view(scope, cleanGradient).get(own));
            NDArray mean = Scalars.times(sum, 1.0 / igSteps);
            long padded = cleanGradient.getShape().get(1);
            if (length < padded) {
                Shape rest = cleanGradient.getShape().slice(2);
                NDArray zeros = scope.zeros(new Shape(padded - length).addAll(rest), mean.getDataType());
                mean = mean.concat(zeros, 0);
            }
            perPair.add(mean);
        }
        return Scoped.stack(scope, perPair);
    }

    /**
     * What a dictionary's estimates need besides the gradient, made once: its changes between the runs and which
     * features changed. The error node's estimate needs no reconstruction ({@link DictionaryChanges}): two
     * [T, width] x [width, d_out] products fewer per dictionary than decoding both runs (a third of a 16k-wide SAE's
     * work).
     */
    private record Changes(Dictionary d, DictionaryChanges of, NDArray changed) {
        static Changes of(NDManager scope, Dictionary d, ForwardResult clean, ForwardResult noise) {
            DictionaryChanges c = DictionaryChanges.of(scope, d, clean, noise);
            return new Changes(d, c, c.features().neq(0));
        }

        /** Signed estimates: the features' [B, T, width] and the error's [B, T], from the site's gradient. */
        NDArray[] estimates(NDArray siteGradient) {
            NDManager scope = of.features().getManager();
            NDArray gradient = view(scope, siteGradient);
            NDArray perFeature = of.features().mul(gradient.matMul(d.decoderTransposed(scope)));
            return new NDArray[] {perFeature, of.errorEstimates(gradient, perFeature)};
        }
    }

    /** GradDrop's backward variants over the clean run's session. */
    private record Variants(GradientSession session, ForwardResult clean, Set<String> gradients)
            implements GradDrop.Backward {
        @Override
        public NDArray residualGradient(int layer) {
            return clean.gradient(HookSites.residPost(layer)).duplicate();
        }

        @Override
        public void zeroGradients() {
            session.zeroGradients(gradients);
        }

        @Override
        public void backwardFrom(int layer, NDArray upstream) {
            session.backwardFrom(HookSites.residPre(layer), upstream);
        }
    }

    /**
     * The dictionaries as GradDrop's groups: a feature is a node of its site. A site inside layer n (z, attn_out,
     * mlp_out, mlp_post) has the n variants below it in full and none from its own; resid_pre(n) lies below its own
     * layer's stop, so that variant changes it; resid_post(n) is above layer n, so n + 1 variants leave it in full.
     */
    private record Scores(
            ForwardResult clean,
            Map<Dictionary, Changes> changes,
            Map<Dictionary, NDArray> features,
            Map<Dictionary, NDArray> errors)
            implements GradDrop.Scored<Dictionary> {
        @Override
        public List<Dictionary> groups() {
            return List.copyOf(changes.keySet());
        }

        @Override
        public int fullVariants(Dictionary d) {
            return d.shortSite().equals("resid_post") ? d.layer() + 1 : d.layer();
        }

        @Override
        public boolean changedBy(Dictionary d, int stop) {
            return switch (d.shortSite()) {
                case "resid_pre" -> stop >= d.layer();
                default -> stop > d.layer();
            };
        }

        @Override
        public void read(List<Dictionary> groups, ToIntFunction<Dictionary> weight) {
            for (Dictionary d : groups) {
                NDArray[] estimate = changes.get(d).estimates(clean.gradient(d.site()));
                int w = weight.applyAsInt(d);
                GradDrop.accumulate(features, d, estimate[0], w);
                GradDrop.accumulate(errors, d, estimate[1], w);
                for (NDArray a : estimate) {
                    a.close();
                }
            }
        }
    }

    /** One dictionary's estimates [B, T, width] and error estimates [B, T], read back into each pair's block. */
    private void readBack(
            Dictionary d,
            NDArray changed,
            NDArray estimates,
            NDArray errors,
            List<Map<String, FeatureEstimates.Block>> blocks) {
        // Indices [n, 3] (row, position, feature) in row-major order, as the mask selects the values.
        long[] where = changed.nonzero().toLongArray();
        double[] values = doubles(estimates.booleanMask(changed));
        List<List<Integer>> perPair = new ArrayList<>();
        for (int p = 0; p < pairs.size(); p++) {
            perPair.add(new ArrayList<>());
        }
        for (int e = 0; e < values.length; e++) {
            int row = (int) where[3 * e];
            // Positions past a row's own prompt are padding.
            if (where[3 * e + 1] < pairs.get(row).length()) {
                perPair.get(row).add(e);
            }
        }
        for (int p = 0; p < pairs.size(); p++) {
            List<Integer> entries = perPair.get(p);
            int[] positions = new int[entries.size()];
            int[] features = new int[entries.size()];
            double[] own = new double[entries.size()];
            for (int i = 0; i < entries.size(); i++) {
                int e = entries.get(i);
                positions[i] = (int) where[3 * e + 1];
                features[i] = (int) where[3 * e + 2];
                own[i] = values[e];
            }
            double[] errorsOfPair =
                    Arrays.copyOf(doubles(errors.get(p)), pairs.get(p).length());
            blocks.get(p).put(d.name(), new FeatureEstimates.Block(positions, features, own, errorsOfPair));
        }
    }

    /** A site's value flattened per position ([B, T, width]), as a view the scope owns. */
    private static NDArray view(NDManager scope, NDArray siteValue) {
        NDArray view = Dictionary.flat(siteValue.reshape(siteValue.getShape()));
        view.attach(scope);
        return view;
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }
}
