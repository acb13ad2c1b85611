package dev.patchbay.attribution;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookedTransformer;
import java.util.List;

/**
 * Attribution patching: the first-order estimate (n(noise) - n(clean)) . dMetric/dn at the clean run (eq. 4)
 * of every node at once, from a noise forward, a clean forward and one backward pass per pair; with the QK fix
 * (eqs. 6-10), query and key nodes recompute the attention softmax exactly instead. One pair gives signed
 * estimates; a distribution gives the mean of per-pair absolute values (eq. 5).
 */
public final class AtP implements AttributionMethod {
    private final boolean qkFix;
    private final int maxRows;

    /**
     * @param qkFix whether query and key nodes get the QK fix
     * @param maxRows prompt pairs per batch
     */
    public AtP(boolean qkFix, int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be positive");
        }
        this.qkFix = qkFix;
        this.maxRows = maxRows;
    }

    @Override
    public String id() {
        return qkFix ? "atp-qk" : "atp";
    }

    @Override
    public AttributionResult run(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes,
            AttributionListener listener) {
        PairBatch.validate(pairs, nodes, model.config());
        long start = System.nanoTime();
        Aggregate aggregate = new Aggregate(pairs.size());
        int done = 0;
        for (PairBatch batch : PairBatch.split(pairs, maxRows)) {
            try (NDManager scope = NDManager.newBaseManager("PyTorch");
                    GradientPass pass = new GradientPass(model, scope, batch, nodes, qkFix, false)) {
                aggregate.metrics(pass);
                for (GradientPass.Group g : pass.groups()) {
                    double[][] perPair = pass.estimates(g);
                    for (double[] estimates : perPair) {
                        aggregate.add(g, pass.positions(), model.config(), estimates);
                    }
                }
            }
            done += batch.size();
            listener.onProgress(done, pairs.size());
        }
        List<EffectBlock> blocks = aggregate.blocks(pairs.size() == 1);
        blocks.forEach(listener::onBlock);
        // Per pair: two forward passes and one backward pass (counted as two).
        double passes = 4.0 * pairs.size();
        return new AttributionResult(id(), pairs.get(0).metric().describe(), pairs.size(), aggregate.cleanMean(),
                aggregate.noiseMean(), blocks, new Cost(passes, passes, (System.nanoTime() - start) / 1e9));
    }
}
