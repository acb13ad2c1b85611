package dev.patchbay.passes;

import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.List;

/**
 * A batch of pairs for the AtP family, as a pass: works of several requests with equal settings run as one batch.
 * The clean side of AtP (not GradDrop, which needs the live graph) is served from the runner's {@link CleanStore}
 * when every pair of a batch has one kept there, and kept there otherwise.
 *
 * @param sums empty for every pair's own estimates; otherwise the pairs fall into consecutive groups of these
 *     sizes, and only each group's sum of |estimate| per node is needed (a distribution's mean |effect|, eq. 5):
 *     it is summed on the device and only the sums are read back, not every pair's estimates
 */
public record GradientWork(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant, List<Integer> sums)
        implements Pass<GradientEstimates> {
    public GradientWork {
        pairs = List.copyOf(pairs);
        sums = List.copyOf(sums);
        if (!sums.isEmpty() && sums.stream().mapToInt(Integer::intValue).sum() != pairs.size()) {
            throw new IllegalArgumentException("sums " + sums + " do not cover " + pairs.size() + " pairs");
        }
    }

    /** Every pair's own estimates. */
    public GradientWork(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant) {
        this(pairs, nodes, variant, List.of());
    }

    /** Only the sum of |estimate| over all of {@code pairs}, per node. */
    public static GradientWork summed(List<PromptPair> pairs, NodeSet nodes, GradientVariant variant) {
        return new GradientWork(pairs, nodes, variant, List.of(pairs.size()));
    }

    /** Whether only sums of |estimate| are needed. */
    public boolean isSummed() {
        return !sums.isEmpty();
    }

    /** Whether the pass prepares the QK fix: its variant has it and the nodes include queries or keys. */
    public boolean needsQkFix() {
        return variant.qkFix() && nodes.hasQueriesOrKeys();
    }

    /** What works that share a batch have in common. */
    private record MergeKey(GradientVariant variant, boolean summed, NodeSet nodes, Object metricKind, int length) {}

    @Override
    public Object mergeKey() {
        return new MergeKey(
                variant,
                isSummed(),
                nodes,
                pairs.get(0).metric().kind(),
                nodes.perPosition() ? pairs.get(0).length() : -1);
    }

    @Override
    public int rowCount() {
        return pairs.size();
    }

    @Override
    public int length() {
        return pairs.stream().mapToInt(PromptPair::length).max().orElse(1);
    }

    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        return pairs.size()
                * PassMemory.gradientRowBytes(config, paddedLength, elementBytes, needsQkFix(), variant.gradDrop());
    }

    @Override
    public GradientEstimates run(PassContext context) {
        return withCache(context, this);
    }

    @Override
    public List<GradientEstimates> runMerged(PassContext context, List<Pass<GradientEstimates>> batch) {
        List<GradientWork> works = batch.stream().map(GradientWork.class::cast).toList();
        // Requests whose clean sides are all cached run apart from the others: in one batch with a miss they would
        // be recomputed (a batch is served from the cache only whole), costing a sweep with clean-prompt affinity
        // the hits it was routed for.
        List<Integer> cached = new ArrayList<>();
        List<Integer> rest = new ArrayList<>();
        for (int i = 0; i < works.size(); i++) {
            (works.get(i).allCached(context.cache()) ? cached : rest).add(i);
        }
        if (cached.isEmpty() || rest.isEmpty()) {
            return together(context, works);
        }
        GradientEstimates[] out = new GradientEstimates[works.size()];
        for (List<Integer> part : List.of(cached, rest)) {
            List<GradientEstimates> results =
                    together(context, part.stream().map(works::get).toList());
            for (int i = 0; i < part.size(); i++) {
                out[part.get(i)] = results.get(i);
            }
        }
        return List.of(out);
    }

    @Override
    public void count(GradientEstimates result, PassTally tally) {
        switch (result.cache()) {
            case HIT -> tally.hits(pairs.size());
            case MISS -> tally.misses(pairs.size());
            case NOT_APPLICABLE -> {}
        }
    }

    /** {@code works} run as one batch, each given the slice of its own pairs. */
    private static List<GradientEstimates> together(PassContext context, List<GradientWork> works) {
        if (works.size() == 1) {
            return List.of(withCache(context, works.get(0)));
        }
        List<PromptPair> pairs = new ArrayList<>();
        List<Integer> sums = new ArrayList<>();
        for (GradientWork w : works) {
            pairs.addAll(w.pairs());
            sums.addAll(w.sums());
        }
        GradientWork first = works.get(0);
        GradientEstimates all = withCache(context, new GradientWork(pairs, first.nodes(), first.variant(), sums));
        List<GradientEstimates> out = new ArrayList<>();
        int from = 0;
        for (GradientWork w : works) {
            out.add(all.slice(from, w.pairs().size()));
            from += w.pairs().size();
        }
        return out;
    }

    /** Whether the store keeps the clean side of every pair of this work. */
    private boolean allCached(CleanStore cache) {
        return cacheable(cache) && pairs.stream().allMatch(p -> cache.holdsCleanSide(p.clean(), side(p)));
    }

    /**
     * Runs {@code work}, its clean side served from the store when every pair has one kept there, and kept there
     * otherwise.
     */
    private static GradientEstimates withCache(PassContext context, GradientWork work) {
        CleanStore cache = context.cache();
        if (!work.cacheable(cache)) {
            return GradientEstimator.run(context.model(), work);
        }
        try (ai.djl.ndarray.NDManager scope = context.model().compute().newScope()) {
            List<PackedCleanSide> hits = new ArrayList<>();
            for (PromptPair p : work.pairs()) {
                PackedCleanSide hit = cache.cleanSide(p.clean(), work.side(p), scope);
                if (hit == null) {
                    break;
                }
                hits.add(hit);
            }
            if (hits.size() == work.pairs().size()) {
                return GradientEstimator.run(context.model(), work, hits, null)
                        .withCache(GradientEstimates.CacheUse.HIT);
            }
        }
        return GradientEstimator.run(context.model(), work, null, computed -> {
                    for (int i = 0; i < computed.size(); i++) {
                        PromptPair p = work.pairs().get(i);
                        cache.putCleanSide(p.clean(), work.side(p), computed.get(i));
                    }
                })
                .withCache(GradientEstimates.CacheUse.MISS);
    }

    /** Whether a batch of these pairs can use the store: not GradDrop (it needs the live graph), one length. */
    private boolean cacheable(CleanStore cache) {
        return cache.enabled()
                && !variant.gradDrop()
                && pairs.stream().mapToInt(PromptPair::length).distinct().count() == 1;
    }

    private CleanStore.AtPSide side(PromptPair p) {
        return new CleanStore.AtPSide(variant, nodes, p.metric(), p.metricPosition());
    }
}
