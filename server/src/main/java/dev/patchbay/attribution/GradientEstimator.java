package dev.patchbay.attribution;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookedTransformer;
import java.util.LinkedHashMap;
import java.util.Map;

/** Runs one {@link GradientWork}: the AtP family's passes for a batch of pairs, on the calling thread. */
public final class GradientEstimator {
    private GradientEstimator() {}

    public static GradientEstimates run(HookedTransformer model, GradientWork work) {
        long start = System.nanoTime();
        PairBatch batch = PairBatch.of(work.pairs());
        int layers = model.config().nLayers();
        try (NDManager scope = NDManager.newBaseManager("PyTorch");
                GradientPass pass = new GradientPass(model, scope, batch, work.nodes(), work.qkFix(), work.gradDrop())) {
            Map<BlockKey, double[][]> estimates = new LinkedHashMap<>();
            double passes;
            double compute;
            if (work.gradDrop()) {
                double variants = AtPStar.gradDropScores(pass, layers, estimates);
                // Per pair, in the paper's unit: two forward passes and L backward passes. The compute is two
                // forwards, one full backward and the partial backward passes below the dropped layers.
                passes = batch.size() * (2 + 2.0 * layers);
                compute = batch.size() * (4 + variants);
            } else {
                for (BlockKey g : pass.groups()) {
                    estimates.put(g, pass.estimates(g));
                }
                passes = 4.0 * batch.size(); // two forward passes and one backward pass per pair
                compute = passes;
            }
            return new GradientEstimates(estimates, pass.positions(), pass.cleanMetrics(), pass.noiseMetrics(),
                    new Cost(passes, compute, (System.nanoTime() - start) / 1e9), false);
        }
    }
}
