package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookedTransformer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * AtP*: AtP with the QK fix and GradDrop (eqs. 10-11). For each layer l a backward variant stops the gradient
 * through l's residual write; a node's score is (1/(L-1)) sum_l |estimate_l| per pair, then the mean over
 * pairs, so a direct effect and an indirect effect that cancel in the full gradient no longer hide the node.
 *
 * <p>The variants are not L separate backward passes. Variant l equals the full backward above layer l, is
 * zero inside it, and below it is the full gradient at resid_post(l) pushed back from resid_pre(l) through
 * the earlier layers (the stop makes layer l an identity for the gradient). So one forward with its graph
 * kept, one full backward, and for each l a partial backward through l layers: about (L - 1) / 2 extra
 * backward passes in all. A node in layer n gets n copies of its full estimate (the variants above it) and a
 * zero (its own layer); residual-stream nodes belong to no layer and get all L terms.
 */
public final class AtPStar implements AttributionMethod {
    private final int maxRows;

    /** @param maxRows prompt pairs per batch */
    public AtPStar(int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be positive");
        }
        this.maxRows = maxRows;
    }

    @Override
    public String id() {
        return "atp-star";
    }

    @Override
    public AttributionResult run(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes,
            AttributionListener listener) {
        PairBatch.validate(pairs, nodes, model.config());
        long start = System.nanoTime();
        int layers = model.config().nLayers();
        Aggregate aggregate = new Aggregate(pairs.size());
        double passes = 0;
        double compute = 0;
        int done = 0;
        for (PairBatch batch : PairBatch.split(pairs, maxRows)) {
            try (NDManager scope = NDManager.newBaseManager("PyTorch");
                    GradientPass pass = new GradientPass(model, scope, batch, nodes, true, true)) {
                aggregate.metrics(pass);
                Map<GradientPass.Group, double[][]> scores = new HashMap<>();
                for (GradientPass.Group g : pass.groups()) {
                    double[][] full = pass.estimates(g);
                    for (double[] row : full) {
                        for (int i = 0; i < row.length; i++) {
                            row[i] = g.layer() * Math.abs(row[i]);
                        }
                    }
                    scores.put(g, full);
                }
                NDArray[] upstream = new NDArray[layers];
                for (int l = 0; l < layers; l++) {
                    upstream[l] = pass.residualGradient(l);
                }
                double variantCompute = 0;
                for (int l = 0; l < layers; l++) {
                    final int dropped = l;
                    List<GradientPass.Group> below = pass.groups().stream().filter(g -> isBelow(g, dropped)).toList();
                    if (below.isEmpty()) {
                        continue;
                    }
                    pass.zeroGradients();
                    pass.backwardFrom(l, upstream[l]);
                    variantCompute += 2.0 * l / layers;
                    for (GradientPass.Group g : below) {
                        double[][] variant = pass.estimates(g);
                        double[][] score = scores.get(g);
                        for (int p = 0; p < variant.length; p++) {
                            for (int i = 0; i < variant[p].length; i++) {
                                score[p][i] += Math.abs(variant[p][i]);
                            }
                        }
                    }
                }
                // Per pair, in the paper's unit: two forward passes and L backward passes. The compute is two
                // forwards, one full backward and the partial backward passes below the dropped layers.
                passes += batch.size() * (2 + 2.0 * layers);
                compute += batch.size() * (4 + variantCompute);
                int informative = Math.max(1, layers - 1);
                for (GradientPass.Group g : pass.groups()) {
                    for (double[] row : scores.get(g)) {
                        for (int i = 0; i < row.length; i++) {
                            row[i] /= informative;
                        }
                        aggregate.add(g, pass.positions(), model.config(), row);
                    }
                }
            }
            done += batch.size();
            listener.onProgress(done, pairs.size());
        }
        List<EffectBlock> blocks = aggregate.blocks(false);
        blocks.forEach(listener::onBlock);
        return new AttributionResult(id(), pairs.get(0).metric().describe(), pairs.size(), aggregate.cleanMean(),
                aggregate.noiseMean(), blocks, new Cost(passes, compute, (System.nanoTime() - start) / 1e9));
    }

    /** Whether the group's site lies below the stop at layer {@code dropped}, i.e. before resid_pre(dropped). */
    private static boolean isBelow(GradientPass.Group g, int dropped) {
        return g.layer() < dropped || g.kind() == NodeKind.RESIDUAL && g.layer() == dropped;
    }
}
