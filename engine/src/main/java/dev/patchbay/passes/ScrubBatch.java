package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.EdgeAblation;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Scoped;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Metric;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * Causal-scrubbing runs (docs/spec/atp-spec.md section 11): one input per row, with some of its readers' incoming
 * edges given values computed elsewhere (each edge its own {@link Source}), read at one writer's output (a node of
 * the scrubbed tree) or at the metric (its root).
 */
public record ScrubBatch(NDManager out, List<ScrubBatch.Row> rows, int readers) implements Pass<ScrubBatch.Output> {
    public ScrubBatch {
        rows = List.copyOf(rows);
    }

    /** An edge's value: the writer's output [T, d_model] (the model's dtype) that {@code reader} takes instead. */
    public record Source(int reader, int writer, NDArray value) {}

    /**
     * One run: an input, the edges whose values it replaces, and what it reads: {@code writer}'s output (a head or
     * an MLP, numbered as {@link dev.patchbay.nodes.EdgeGraph} numbers writers), or, where {@code writer} is -1,
     * the metric at {@code position} with its reference log-probabilities [1, V].
     */
    public record Row(int[] tokens, List<Source> sources, int writer, Metric metric, int position, NDArray reference) {
        public static Row write(int[] tokens, List<Source> sources, int writer) {
            return new Row(tokens, sources, writer, null, 0, null);
        }

        public static Row metric(int[] tokens, List<Source> sources, Metric metric, int position, NDArray reference) {
            return new Row(tokens, sources, -1, metric, position, reference);
        }

        boolean readsMetric() {
            return writer < 0;
        }
    }

    /** What a batch read: each row's writer output [B, T, d_model] in the caller's scope, or each row's metric. */
    public record Output(NDArray writes, double[] metrics) {}

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
        // A forward row, and each row's source values and their changes (two [sources, T, d] each).
        long sources = rows.stream().mapToLong(r -> r.sources().size()).max().orElse(0);
        return rows.size()
                * (PassMemory.forwardRowBytes(config, paddedLength, elementBytes, false)
                        + 2L * elementBytes * sources * paddedLength * config.dModel());
    }

    /**
     * Rows of one length, all reading writers or all reading the metric; writes land in {@code out}. Never merged:
     * each row carries its own values.
     */
    @Override
    public Output run(PassContext context) {
        HookedTransformer model = context.model();
        boolean metric = rows.get(0).readsMetric();
        for (Row r : rows) {
            if (r.readsMetric() != metric) {
                throw new IllegalArgumentException("rows: a scrub batch reads writers or the metric, not both");
            }
        }
        ModelConfig config = model.config();
        try (NDManager scope = model.compute().newScope()) {
            DataType type = model.dataType();
            int[][] tokens = rows.stream().map(Row::tokens).toArray(int[][]::new);
            Hooks.Builder hooks = Hooks.builder().ablate(ablation(scope, rows, readers, type, config));
            if (metric) {
                int[] positions = rows.stream().mapToInt(Row::position).toArray();
                ForwardResult run = model.forward(
                        scope,
                        TokenBatch.of(tokens),
                        hooks.unembedOnly(positions).build());
                NDArray reference =
                        Scoped.concat(scope, rows.stream().map(Row::reference).toList());
                double[] values = new MetricBatch(
                                scope, rows.stream().map(Row::metric).toList(), new int[rows.size()], reference)
                        .apply(run.logits())
                        .toType(DataType.FLOAT64, false)
                        .toDoubleArray();
                return new Output(null, values);
            }
            return new Output(writes(model, out, scope, tokens, rows, hooks), null);
        }
    }

    /** Each row's writer output, from one forward that stops after the last site read. */
    private static NDArray writes(
            HookedTransformer model,
            NDManager out,
            NDManager scope,
            int[][] tokens,
            List<Row> rows,
            Hooks.Builder hooks) {
        ModelConfig config = model.config();
        int perLayer = config.nHeads() + 1;
        List<String> sites = new ArrayList<>();
        int last = 0;
        for (Row r : rows) {
            if (r.writer() < 1) {
                throw new IllegalArgumentException("rows: the embeddings are read from a plain run, not a scrub row");
            }
            int layer = (r.writer() - 1) / perLayer;
            boolean mlp = (r.writer() - 1) % perLayer == config.nHeads();
            String site = mlp ? HookSites.mlpOut(layer) : HookSites.attn(layer, "z");
            if (!sites.contains(site)) {
                sites.add(site);
            }
            last = Math.max(last, r.writer());
        }
        int lastLayer = (last - 1) / perLayer;
        boolean lastIsMlp = (last - 1) % perLayer == config.nHeads();
        ForwardResult run = model.forward(
                scope,
                TokenBatch.of(tokens),
                hooks.cache(sites)
                        .stopAfter(lastIsMlp ? HookSites.mlpOut(lastLayer) : HookSites.attn(lastLayer, "z"))
                        .build());
        NDList perRow = new NDList();
        for (int b = 0; b < rows.size(); b++) {
            int w = rows.get(b).writer() - 1;
            int layer = w / perLayer;
            int unit = w % perLayer;
            if (unit == config.nHeads()) {
                perRow.add(run.activations().get(HookSites.mlpOut(layer)).get(new NDIndex("{}", b)));
            } else {
                NDArray z = run.activations().get(HookSites.attn(layer, "z")).get(new NDIndex("{}:{}", b, b + 1));
                perRow.add(model.headWrites(layer, z).get(new NDIndex("0, :, {}", unit)));
            }
        }
        return Scoped.stack(out, perRow);
    }

    /**
     * The rows' sources as one {@link EdgeAblation}: a column per source slot, slots grouped by writer in ascending
     * order, as many per writer as the row with the most sources of that writer has; a row's unused slots are masked.
     */
    private static EdgeAblation ablation(
            NDManager scope, List<Row> rows, int readers, DataType type, ModelConfig config) {
        TreeMap<Integer, Integer> slotsPerWriter = new TreeMap<>();
        for (Row r : rows) {
            TreeMap<Integer, Integer> count = new TreeMap<>();
            for (Source s : r.sources()) {
                count.merge(s.writer(), 1, Integer::sum);
            }
            count.forEach((w, c) -> slotsPerWriter.merge(w, c, Math::max));
        }
        int slots = slotsPerWriter.values().stream().mapToInt(Integer::intValue).sum();
        int[] sourceWriters = new int[slots];
        TreeMap<Integer, Integer> firstSlot = new TreeMap<>();
        int next = 0;
        for (var e : slotsPerWriter.entrySet()) {
            firstSlot.put(e.getKey(), next);
            for (int i = 0; i < e.getValue(); i++) {
                sourceWriters[next++] = e.getKey();
            }
        }
        int length = rows.get(0).tokens().length;
        long d = config.dModel();
        float[] mask = new float[rows.size() * readers * Math.max(slots, 1)];
        NDList values = new NDList();
        NDArray unused = scope.zeros(new Shape(length, d), type);
        for (int b = 0; b < rows.size(); b++) {
            NDArray[] row = new NDArray[slots];
            TreeMap<Integer, Integer> used = new TreeMap<>();
            for (Source s : rows.get(b).sources()) {
                int slot = firstSlot.get(s.writer()) + used.merge(s.writer(), 1, Integer::sum) - 1;
                row[slot] = s.value();
                mask[(b * readers + s.reader()) * slots + slot] = 1;
            }
            for (int slot = 0; slot < slots; slot++) {
                values.add(
                        row[slot] == null
                                ? unused
                                : Scoped.view(scope, row[slot]).toType(type, false));
            }
        }
        NDArray ablated = slots == 0
                ? scope.zeros(new Shape(rows.size(), 0, length, d), type)
                : Scoped.stack(scope, values).reshape(rows.size(), slots, length, d);
        NDArray masks = scope.create(mask, new Shape(rows.size(), readers, Math.max(slots, 1)))
                .toType(type, false)
                .get(new NDIndex(":, :, :{}", slots));
        return new EdgeAblation(ablated, masks, sourceWriters);
    }
}
