package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.EdgeAblation;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Metric;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Circuit runs (docs/spec/atp-spec.md section 10): rows of clean prompts, each with the edges outside its circuit
 * ablated ({@link EdgeAblation}), read by the metric; and the writer values ablations take.
 */
public record CircuitBatch(List<CircuitBatch.Row> rows, int readers, int writers) implements Pass<double[]> {
    public CircuitBatch {
        rows = List.copyOf(rows);
    }

    /**
     * One circuit run: the clean prompt, each writer's ablated value [writers, T, d_model] (the model's dtype), the
     * ablated edges as a [readers, writers] 0/1 mask, and the metric with its reference log-probabilities [1, V].
     */
    public record Row(int[] tokens, NDArray ablated, float[] mask, Metric metric, int position, NDArray reference) {}

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
        return rows.size() * rowBytes(config, elementBytes, writers, paddedLength);
    }

    /**
     * One circuit row: a forward row with the edge ablation's work on top (each reader's input with its ablated
     * changes added, the changes stacked per reader group), and the row's ablated writer values and their changes
     * (two [writers, T, d] each). The forward part is scaled by {@link #ABLATION_MARGIN}.
     */
    public static long rowBytes(ModelConfig config, int elementBytes, int writers, int length) {
        return (long) (ABLATION_MARGIN * PassMemory.forwardRowBytes(config, length, elementBytes, false))
                + 2L * elementBytes * writers * length * config.dModel();
    }

    /**
     * Measured on the tiny Llama at 1,024 tokens, three rows a batch (OperationMemoryTest): about 94 MB a row against
     * a forward row's 71 MB estimate.
     */
    private static final double ABLATION_MARGIN = 1.4;

    /** The metric of each row, in one batched forward (rows of one length); never merged (rows carry own values). */
    @Override
    public double[] run(PassContext context) {
        HookedTransformer model = context.model();
        try (NDManager scope = model.compute().newScope()) {
            DataType type = model.dataType();
            int[][] tokens = new int[rows.size()][];
            int[] positions = new int[rows.size()];
            List<Metric> metrics = new ArrayList<>();
            NDList ablated = new NDList();
            NDList references = new NDList();
            float[] mask = new float[rows.size() * readers * writers];
            for (int r = 0; r < rows.size(); r++) {
                Row row = rows.get(r);
                tokens[r] = row.tokens();
                positions[r] = row.position();
                metrics.add(row.metric());
                ablated.add(row.ablated());
                references.add(row.reference());
                System.arraycopy(row.mask(), 0, mask, r * readers * writers, readers * writers);
            }
            NDArray values = dev.patchbay.model.Scoped.stack(scope, ablated).toType(type, false);
            NDArray masks =
                    scope.create(mask, new Shape(rows.size(), readers, writers)).toType(type, false);
            ForwardResult run = model.forward(
                    scope,
                    TokenBatch.of(tokens),
                    Hooks.builder()
                            .ablate(EdgeAblation.perWriter(values, masks))
                            .unembedOnly(positions)
                            .build());
            NDArray reference = dev.patchbay.model.Scoped.concat(scope, references);
            return new MetricBatch(scope, metrics, new int[rows.size()], reference)
                    .apply(run.logits())
                    .toType(DataType.FLOAT64, false)
                    .toDoubleArray();
        }
    }

    /**
     * Every writer's output in one forward's cached {@link EdgeSites#writerSites} ([1, T, ...] each): [writers, T,
     * d_model], in the order of {@link dev.patchbay.nodes.EdgeGraph}'s writers: the embeddings (the stream entering
     * layer 0), then per layer each head's write z_h W_O[h] and the MLP's output.
     */
    public static NDArray writerOutputs(HookedTransformer model, Map<String, NDArray> run) {
        ModelConfig config = model.config();
        NDList parts = new NDList();
        parts.add(run.get(HookSites.residPre(0)).expandDims(1));
        for (int l = 0; l < config.nLayers(); l++) {
            parts.add(model.headWrites(l, run.get(HookSites.attn(l, "z"))).transpose(0, 2, 1, 3));
            parts.add(run.get(HookSites.mlpOut(l)).expandDims(1));
        }
        return NDArrays.concat(parts, 1).squeeze(0);
    }
}
