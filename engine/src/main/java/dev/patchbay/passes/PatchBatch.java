package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.Scoped;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Metric;
import java.util.ArrayList;
import java.util.List;

/**
 * Patched rows of one layer, run as one batched forward pass resumed at that layer; gives the metric of each row.
 * Patched rows of other requests that resume at the same layer share the batch.
 */
public record PatchBatch(List<PatchRow> rows) implements Pass<double[]> {
    public PatchBatch {
        rows = List.copyOf(rows);
        if (rows.isEmpty()) {
            throw new IllegalArgumentException("rows: a patch batch needs at least one row");
        }
    }

    /** Rows resuming at one layer may share a batch. */
    private record MergeKey(int layer) {}

    @Override
    public Object mergeKey() {
        return new MergeKey(rows.get(0).layer());
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
        boolean maps = rows.stream()
                .flatMap(r -> r.patches().stream())
                .anyMatch(p -> HookSites.layoutOf(p.site()) == SiteLayout.ATTENTION_MAP);
        return rows.size() * PassMemory.forwardRowBytes(config, paddedLength, elementBytes, maps);
    }

    @Override
    public double[] run(PassContext context) {
        return run(context.model(), rows);
    }

    @Override
    public List<double[]> runMerged(PassContext context, List<Pass<double[]>> batch) {
        List<PatchRow> all = new ArrayList<>();
        batch.forEach(p -> all.addAll(((PatchBatch) p).rows()));
        double[] metrics = run(context.model(), all);
        List<double[]> out = new ArrayList<>();
        int from = 0;
        for (Pass<double[]> p : batch) {
            out.add(java.util.Arrays.copyOfRange(metrics, from, from + p.rowCount()));
            from += p.rowCount();
        }
        return out;
    }

    /** The metric of each row; all rows must resume at the same layer. */
    private static double[] run(HookedTransformer model, List<PatchRow> rows) {
        int layer = rows.get(0).layer();
        int length = rows.stream().mapToInt(r -> r.tokens().length).max().orElseThrow();
        try (NDManager scope = model.compute().newScope()) {
            Hooks.Builder hooks = Hooks.builder();
            int[][] tokens = new int[rows.size()][];
            List<NDArray> residuals = new ArrayList<>();
            List<NDArray> references = new ArrayList<>();
            List<Metric> metrics = new ArrayList<>();
            int[] positions = new int[rows.size()];
            for (int r = 0; r < rows.size(); r++) {
                PatchRow row = rows.get(r);
                if (row.layer() != layer) {
                    throw new IllegalArgumentException("a patch batch resumes at one layer");
                }
                tokens[r] = row.tokens();
                residuals.add(padded(scope, row.residPre(), length));
                references.add(row.reference());
                metrics.add(row.metric());
                positions[r] = row.position();
                for (PatchRow.SitePatch sp : row.patches()) {
                    Patch p = sp.patch();
                    hooks.patch(sp.site(), Patch.of(r, p.source(), p.positions(), p.units()));
                }
            }
            ForwardResult patched = model.forwardFrom(
                    scope,
                    TokenBatch.of(tokens),
                    layer,
                    Scoped.concat(scope, residuals),
                    hooks.unembedOnly(positions).build());
            // The logits are [rows, 1, V]: the metric reads position 0 of each.
            NDArray values = new MetricBatch(scope, metrics, new int[rows.size()], Scoped.concat(scope, references))
                    .apply(patched.logits());
            return values.toType(DataType.FLOAT64, false).toDoubleArray();
        }
    }

    /** [1, T, d] padded with zeros to [1, length, d] (padding positions are never read). */
    private static NDArray padded(NDManager scope, NDArray resid, int length) {
        long t = resid.getShape().get(1);
        if (t == length) {
            return resid;
        }
        return Scoped.view(scope, resid)
                .concat(scope.zeros(new Shape(1, length - t, resid.getShape().get(2)), resid.getDataType()), 1);
    }
}
