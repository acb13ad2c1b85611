package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.Intervention;
import dev.patchbay.model.KvCache;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.Precision;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.model.TokenBatch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One step of generation for a batch of sequences: each row's interventions applied as the forward computes its
 * activations, and the logits of each row's last position. Without a cache every row is its whole sequence so far
 * (rows of different lengths, right-padded); with caches, every row is its new tokens (of one length), the caches
 * take the rows in order, and a row's interventions' positions count from its cache's length.
 */
public record GenerationStep(List<KvCache> caches, List<GenerationStep.Row> rows) implements Pass<double[][]> {
    public GenerationStep {
        caches = List.copyOf(caches);
        rows = List.copyOf(rows);
    }

    /**
     * A sequence so far, its interventions and its patches (their row is set here; positions already resolved and
     * counted from the row's first token).
     */
    public record Row(int[] tokens, List<Intervention> interventions, List<SitePatch> patches) {
        public Row(int[] tokens, List<Intervention> interventions) {
            this(tokens, interventions, List.of());
        }

        /** Whether an intervention or patch of this row is at an attention score or pattern site. */
        public boolean hooksAttentionMaps() {
            return interventions.stream().anyMatch(i -> onAttentionMap(i.site()))
                    || patches.stream().anyMatch(p -> onAttentionMap(p.site()));
        }

        private static boolean onAttentionMap(String site) {
            return HookSites.layoutOf(site) == SiteLayout.ATTENTION_MAP;
        }
    }

    /** A patch of a row at a site (its row is set here). */
    public record SitePatch(String site, Patch patch) {}

    /**
     * Cached steps of one length merge across requests, each request's rows attending to its own caches, unless a
     * row hooks the attention maps (their key axes differ by cache).
     */
    private record MergeKey(int length) {}

    @Override
    public Object mergeKey() {
        boolean mergeable = !caches.isEmpty() && rows.stream().noneMatch(Row::hooksAttentionMaps);
        return mergeable ? new MergeKey(length()) : null;
    }

    @Override
    public int rowCount() {
        return rows.size();
    }

    @Override
    public int length() {
        return rows.stream().mapToInt(r -> r.tokens().length).max().orElse(1);
    }

    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        boolean maps = rows.stream().anyMatch(Row::hooksAttentionMaps);
        return rows.size() * PassMemory.forwardRowBytes(config, paddedLength, elementBytes, maps);
    }

    /** Each row's next-token logits [V], in float64; no caches recomputes every row's whole sequence. */
    @Override
    public double[][] run(PassContext context) {
        return run(context.model(), caches, rows);
    }

    @Override
    public List<double[][]> runMerged(PassContext context, List<Pass<double[][]>> batch) {
        List<KvCache> allCaches = new ArrayList<>();
        List<Row> allRows = new ArrayList<>();
        for (Pass<double[][]> p : batch) {
            allCaches.addAll(((GenerationStep) p).caches());
            allRows.addAll(((GenerationStep) p).rows());
        }
        double[][] logits = run(context.model(), allCaches, allRows);
        List<double[][]> out = new ArrayList<>();
        int from = 0;
        for (Pass<double[][]> p : batch) {
            out.add(Arrays.copyOfRange(logits, from, from + p.rowCount()));
            from += p.rowCount();
        }
        return out;
    }

    private static double[][] run(HookedTransformer model, List<KvCache> caches, List<Row> rows) {
        try (NDManager scope = model.compute().newScope()) {
            int[][] tokens = new int[rows.size()][];
            int[] last = new int[rows.size()];
            Hooks.Builder hooks = Hooks.builder();
            for (int r = 0; r < rows.size(); r++) {
                tokens[r] = rows.get(r).tokens();
                last[r] = tokens[r].length - 1;
                for (Intervention i : rows.get(r).interventions()) {
                    hooks.intervene(i.onRow(r));
                }
                for (SitePatch sp : rows.get(r).patches()) {
                    Patch p = sp.patch();
                    hooks.patch(sp.site(), new Patch(r, p.source(), p.positions(), p.units()));
                }
            }
            Hooks built = hooks.unembedOnly(last).build();
            ForwardResult run = caches.isEmpty()
                    ? model.forward(scope, TokenBatch.of(tokens), built)
                    : model.forwardCached(scope, caches, TokenBatch.of(tokens), built);
            NDArray logits = Precision.widened(run.logits()).toType(DataType.FLOAT64, false); // [B, 1, V]
            double[][] out = new double[rows.size()][];
            for (int r = 0; r < rows.size(); r++) {
                out[r] = logits.get(new NDIndex("{}, 0", r)).toDoubleArray();
            }
            return out;
        }
    }
}
