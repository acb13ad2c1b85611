package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.features.Dictionary;
import dev.patchbay.features.FeatureEstimates;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Precision;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * AtP over the features and error nodes of some dictionaries, for a batch of pairs (issue 33): a noise forward, a
 * clean forward with the metric's backward, each keeping the dictionaries' input and output sites. A feature's
 * estimate at a position is (f_noise - f_clean) (W_dec[i] . g) with g the metric's gradient at the dictionary's site
 * in the clean run (eq. 4 with the feature as the node: its write to the site is f_i W_dec[i]); the error node's is
 * (err_noise - err_clean) . g. Only features whose activation differs between the runs are read back.
 */
public record FeatureGradientWork(List<PromptPair> pairs, List<Dictionary> dictionaries)
        implements Pass<FeatureEstimates> {
    public FeatureGradientWork {
        pairs = List.copyOf(pairs);
        dictionaries = List.copyOf(dictionaries);
        if (pairs.isEmpty() || dictionaries.isEmpty()) {
            throw new IllegalArgumentException("feature AtP needs at least one pair and one dictionary");
        }
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
     * The plain AtP pass's row (the clean graph dominates) and, per dictionary, the dense arrays of its features that
     * live at once: both runs' features, their difference, the gradient's projection, the estimates and the mask, six
     * [T, width] arrays.
     */
    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        long perRow = PassMemory.gradientRowBytes(config, paddedLength, elementBytes, false, false);
        for (Dictionary d : dictionaries) {
            perRow += 6L * paddedLength * d.width() * elementBytes;
        }
        return pairs.size() * perRow;
    }

    @Override
    public FeatureEstimates run(PassContext context) {
        return run(context.model());
    }

    /** Runs the passes on the calling thread. */
    public FeatureEstimates run(HookedTransformer model) {
        long start = System.nanoTime();
        PairBatch batch = PairBatch.of(pairs);
        Set<String> sites = new LinkedHashSet<>();
        Set<String> outputs = new LinkedHashSet<>();
        for (Dictionary d : dictionaries) {
            sites.add(d.inputSite());
            sites.add(d.site());
            outputs.add(d.site());
        }
        try (NDManager scope = model.compute().newScope()) {
            ForwardResult clean = model.forwardWithGradients(
                    scope,
                    batch.clean,
                    Hooks.builder()
                            .cache(sites)
                            .gradient(outputs)
                            .unembedOnly(batch.positions)
                            .build(),
                    batch.unembeddedMetric(scope, null));
            NDArray reference = Precision.widened(
                            batch.unembeddedMetric(scope, null).atPositions(clean.logits()))
                    .logSoftmax(-1);
            ForwardResult noise = model.forward(
                    scope,
                    batch.noise,
                    Hooks.builder().cache(sites).unembedOnly(batch.positions).build());
            double[] cleanMetrics = doubles(clean.metric());
            double[] noiseMetrics =
                    doubles(batch.unembeddedMetric(scope, reference).apply(noise.logits()));
            List<Map<String, FeatureEstimates.Block>> blocks = new ArrayList<>();
            for (int p = 0; p < pairs.size(); p++) {
                blocks.add(new LinkedHashMap<>());
            }
            for (Dictionary d : dictionaries) {
                try (NDManager work = scope.newSubManager()) {
                    estimate(work, d, clean, noise, blocks);
                }
            }
            List<FeatureEstimates.Pair> out = new ArrayList<>();
            for (int p = 0; p < pairs.size(); p++) {
                out.add(new FeatureEstimates.Pair(cleanMetrics[p], noiseMetrics[p], blocks.get(p)));
            }
            // Two forward passes and one backward, per pair.
            double passes = 4.0 * pairs.size();
            return new FeatureEstimates(out, new Cost(passes, passes, (System.nanoTime() - start) / 1e9));
        }
    }

    /** One dictionary's estimates, read back into each pair's block. */
    private void estimate(
            NDManager work,
            Dictionary d,
            ForwardResult clean,
            ForwardResult noise,
            List<Map<String, FeatureEstimates.Block>> blocks) {
        NDArray cleanIn = view(work, clean.activation(d.inputSite()));
        NDArray noiseIn = view(work, noise.activation(d.inputSite()));
        NDArray cleanFeatures = d.encode(cleanIn);
        NDArray noiseFeatures = d.encode(noiseIn);
        NDArray gradient = view(work, clean.gradient(d.site()));
        NDArray change = noiseFeatures.sub(cleanFeatures);
        NDArray estimates = change.mul(gradient.matMul(d.decoderTransposed(work)));
        NDArray cleanError = view(work, clean.activation(d.site())).sub(d.reconstruct(cleanFeatures, cleanIn));
        NDArray noiseError = view(work, noise.activation(d.site())).sub(d.reconstruct(noiseFeatures, noiseIn));
        NDArray errors = noiseError.sub(cleanError).mul(gradient).sum(new int[] {-1});
        NDArray changed = change.neq(0);
        // Indices [n, 3] (row, position, feature) in row-major order, as the mask selects the values.
        long[] where = changed.nonzero().toLongArray();
        double[] values = doubles(estimates.booleanMask(changed));
        double[][] errorRows = new double[pairs.size()][];
        for (int p = 0; p < pairs.size(); p++) {
            errorRows[p] = doubles(errors.get(p));
        }
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
            double[] errorsOfPair = Arrays.copyOf(errorRows[p], pairs.get(p).length());
            blocks.get(p).put(d.name(), new FeatureEstimates.Block(positions, features, own, errorsOfPair));
        }
    }

    /** A site's value flattened per position ([B, T, width]), as a view the work scope owns. */
    private static NDArray view(NDManager work, NDArray siteValue) {
        NDArray flat = Dictionary.flat(siteValue);
        NDArray view = flat == siteValue ? siteValue.reshape(siteValue.getShape()) : flat;
        view.attach(work);
        return view;
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }
}
