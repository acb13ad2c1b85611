package dev.patchbay.attribution;

import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.GradientEstimates;
import dev.patchbay.passes.GradientVariant;
import dev.patchbay.passes.GradientWork;
import dev.patchbay.passes.LayerwiseGradientWork;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.Recomputation;
import java.util.List;

/** The loop the AtP family shares: batches of pairs through the runner, aggregated into blocks. */
final class GradientAttribution {
    private GradientAttribution() {}

    static AttributionResult run(
            String id,
            PassRunner runner,
            List<PromptPair> pairs,
            NodeSet nodes,
            GradientVariant variant,
            int maxRows,
            Recomputation recomputation,
            AttributionListener listener) {
        PairBatch.validate(pairs, nodes, runner.model().config());
        long start = System.nanoTime();
        Aggregate aggregate = new Aggregate(pairs.size());
        Cost cost = new Cost(0, 0, 0);
        int done = 0;
        // A distribution needs only each node's mean |estimate| (eq. 5): the device sums a batch's and sends only
        // that back. A single pair's estimate is signed (eq. 4), so it comes back whole.
        boolean distribution = pairs.size() > 1;
        for (List<PromptPair> batch : PairBatch.split(pairs, maxRows)) {
            List<Integer> sums = distribution ? List.of(batch.size()) : List.of();
            GradientEstimates e = runner.run(
                    recomputation.perLayer()
                            ? new LayerwiseGradientWork(
                                    batch,
                                    nodes,
                                    variant,
                                    sums,
                                    recomputation == Recomputation.PER_LAYER_KEEPING_QK_TABLES)
                            : new GradientWork(batch, nodes, variant, sums));
            aggregate.metrics(e.cleanMetrics(), e.noiseMetrics());
            e.estimates().forEach((key, rows) -> {
                for (double[] row : rows) {
                    if (distribution) {
                        aggregate.addAbsoluteSum(
                                key, e.positions(), runner.model().config(), row);
                    } else {
                        aggregate.single(key, e.positions(), runner.model().config(), row);
                    }
                }
            });
            cost = cost.plus(e.cost());
            done += batch.size();
            listener.onProgress(done, pairs.size());
        }
        // AtP* scores are absolute values already; AtP is signed for a single pair (eq. 4), else eq. 5.
        List<EffectBlock> blocks = aggregate.blocks(variant.signed() && pairs.size() == 1);
        blocks.forEach(listener::onBlock);
        return new AttributionResult(
                id,
                pairs.get(0).metric().describe(),
                pairs.size(),
                aggregate.cleanMean(),
                aggregate.noiseMean(),
                blocks,
                new Cost(cost.forwardPasses(), cost.computeEquivalents(), (System.nanoTime() - start) / 1e9));
    }
}
