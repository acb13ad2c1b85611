package dev.patchbay.passes;

import dev.patchbay.model.Attention;
import dev.patchbay.model.ModelConfig;

/**
 * How much native memory one row of a batched pass holds at its peak, estimated from the model's shape and the
 * padded length, so that a server can size batches to a memory budget before it runs anything.
 *
 * <p>What grows is the attention: every row holds heads x T x T scores, patterns and (for gradients) their
 * gradients, so a 2048-token prompt costs 1024 times a 64-token one there. The factors are counts of such
 * tensors alive at once, rounded up from the pass's code and checked against peak resident memory on the tiny
 * Llama checkpoint at 2048 tokens (measured: AtP 306 MB a row, estimated 438; activation patching 350 MB a row,
 * estimated 411): an estimate that is too low lets a batch exhaust memory, one that is too high only makes
 * batches smaller. Forwards without a graph and the QK fix make their maps a chunk of query rows at a time, and
 * per-layer recomputation holds one layer's graph; those passes were calibrated against the memory sweep
 * (docs/memory.md, where every estimate is set beside its measured peak).
 */
public final class PassMemory {
    /** Attention-sized tensors [heads, T, T] one layer of a forward holds at once (scores, mask sum, softmax). */
    private static final int FORWARD_ATTENTION_MAPS = 6;
    /** Attention-sized tensors per layer a gradient pass keeps for, and creates in, its backward. */
    private static final int GRADIENT_ATTENTION_MAPS = 3;
    /**
     * Score-sized tensors of one chunk of query rows the recomputed layer of {@link LayerwiseGradientWork} holds at its
     * peak, its attention being made and differentiated a chunk at a time: the chunk's graph and its backward's
     * temporaries (when the maps were whole, 4.3 whole maps were measured on the tiny Llama widened to 8 heads at
     * 8,192 tokens), and with the QK fix the pattern gradient's rows it reads (7.4 then).
     */
    private static final int LAYERWISE_ATTENTION_MAPS = 5;

    private static final int LAYERWISE_PATTERN_GRADIENT_MAPS = 3;
    /**
     * The recomputed QK-fix passes make their tables again at every read, a chunk at a time, and the allocator's high
     * water mark runs above the arrays counted here: on the GPT-2-small shape at 1,024 tokens (per position) AtP with
     * the QK fix measured 1.82 GB and AtP* 2.40 GB against 1.37 and 1.41 GB counted, the excess in what is not an
     * attention map. That part of their estimates is scaled by this to stay on the safe side; the attention maps,
     * which dominate long prompts, are counted as measured (the tiny shape's sweep at 8,192 tokens).
     */
    private static final double LAYERWISE_QK_FIX_MARGIN = 2.2;
    /** Attention-sized tensors per layer the plain pass keeps more with the QK fix: the clean scores, the pattern's gradient. */
    private static final int QK_FIX_GRAPH_MAPS = 2;
    /** [T, d_model] and [T, d_mlp] tensors per layer a gradient pass keeps for its backward. */
    private static final int GRADIENT_RESIDUAL_WIDTHS = 16;

    private static final int GRADIENT_MLP_WIDTHS = 8;
    /** One layer's [T, d_model] and [T, d_mlp] intermediates in a forward without gradients. */
    private static final int FORWARD_RESIDUAL_WIDTHS = 8;

    private static final int FORWARD_MLP_WIDTHS = 4;
    /**
     * The QK fix's float64 per-head copies of queries, keys and their changes, per layer prepared ([T, heads, d_head]
     * each).
     */
    private static final int QK_FIX_INPUTS = 4;

    /**
     * Values per node site and position the AtP family holds at its peak, when the clean side is packed for the cache
     * (right after the backward): clean and noise activations, gradient and difference, the packed clean side's
     * concatenation of activations and gradients (two) and each pair's copy of it (two). Later, while estimating:
     * the four, a product, the estimates and their concatenation for the read-back.
     */
    private static final int GRADIENT_SITE_COPIES = 8;

    /**
     * Edge estimates: copies of the split inputs [T, heads, d_model] per layer, and of the writers' changes [T,
     * writers, d_model]. Measured on the GPT-2-small shape at 64 tokens (bench --section edges): EAP 0.67 GB and
     * AtP* 0.87 GB above the model; these factors estimate 0.87 and 0.95 GB.
     */
    private static final int SPLIT_INPUT_COPIES = 6;

    private static final int WRITER_COPIES = 4;

    /**
     * Edge AtP*'s QK fix: float64 heads x T x T tables per writer at once (the query and key changes, their
     * softmaxes and temporaries). Calibrated on a Llama of 4 heads, d_model 256, 2 and 4 layers, per position and
     * not, at 512 to 1,024 tokens, where a 64 MB chunk had been assumed: measured 1.86 GB above the model for one pair
     * of 1,024 tokens (estimated 1.30 before, 2.30 now), 1.08 GB with 2 layers per position (0.65; 1.65), 0.59 GB
     * at 512 tokens (0.59; 0.84); and on the tiny Llama at 512 tokens per position 0.20 to 0.25 GB within the test
     * suite (0.31). EdgeMemoryTest holds the estimate above the measured peak at two lengths.
     */
    static final int EDGE_QK_FIX_WRITER_MAPS = 30;

    /**
     * Recomputed edges: what is counted came within 1% of the measured peaks of EAP on Llama 3.2 1B's shape (4 layers)
     * at 512 to 2,048 tokens (2.43 / 2.54, 4.85 / 4.93, 9.68 / 9.70 GB), the readers' split inputs and the writers'
     * changes being most of it; a margin for what other shapes and allocators add.
     */
    private static final double LAYERWISE_EDGE_MARGIN = 1.15;

    private PassMemory() {}

    /**
     * A forward pass without gradients (a clean or noise run, or a patched run): one layer's intermediates at a
     * time, every layer's residual stream kept (activation patching resumes from it), and logits at every position.
     * The attention maps are made a chunk of query rows at a time (at most {@link Attention#CHUNK_BYTES}, or one
     * row's), unless {@code wholeMaps}: a hook reads or changes the scores or pattern, which are then made whole.
     */
    public static long forwardRowBytes(ModelConfig c, int length, int elementBytes, boolean wholeMaps) {
        double t = length;
        double whole = FORWARD_ATTENTION_MAPS * (double) c.nHeads() * t * t * elementBytes;
        double attention = wholeMaps ? whole : Math.min(whole, chunkedAttentionBytes(c, t));
        double layer = t * (FORWARD_RESIDUAL_WIDTHS * (double) c.dModel() + FORWARD_MLP_WIDTHS * (double) c.dMlp());
        double kept = c.nLayers() * t * (2.0 * c.dModel() + c.dMlp());
        double logits = t * c.vocabSize();
        return bytes(attention + (layer + kept + logits) * elementBytes);
    }

    /** One chunk of query rows of attention: {@link Attention#CHUNK_BYTES}, or a single row's maps where larger. */
    private static double chunkedAttentionBytes(ModelConfig c, double t) {
        return Math.max(Attention.CHUNK_BYTES, FORWARD_ATTENTION_MAPS * (double) c.nHeads() * t * Double.BYTES);
    }

    /**
     * A generation's KV cache for {@code rows} sequences of {@code length} tokens: every layer's keys and values (per
     * key/value head), held for the whole generation.
     */
    public static long kvCacheBytes(ModelConfig c, int rows, int length, int elementBytes) {
        return bytes(2.0 * rows * length * c.nLayers() * c.nKvHeads() * c.dHead() * elementBytes);
    }

    /**
     * A forward and backward pass of the AtP family: the graph of every layer is kept for the backward, and the
     * node sites' values per position are kept for the estimates; with {@code qkFix} (AtP with the QK fix, or
     * AtP*, over query or key nodes) the QK fix's inputs per layer and one chunk of its tables, and with
     * {@code gradDrop} as well every layer's kept tables, which dominate AtP* on long prompts.
     */
    public static long gradientRowBytes(ModelConfig c, int length, int elementBytes, boolean qkFix, boolean gradDrop) {
        double t = length;
        double perLayer = GRADIENT_ATTENTION_MAPS * (double) c.nHeads() * t * t
                + t * (GRADIENT_RESIDUAL_WIDTHS * (double) c.dModel() + GRADIENT_MLP_WIDTHS * (double) c.dMlp());
        double sites = GRADIENT_SITE_COPIES * t * (4.0 * c.nHeads() * c.dHead() + c.dMlp());
        double logits = 2.0 * c.vocabSize();
        // The noise run of a pair needs no graph and frees its layers as it goes: the clean run's graph dominates.
        double graph = (c.nLayers() * (perLayer + sites) + logits) * elementBytes;
        double qk = qkFix
                ? qkFixBytes(c, t, c.nLayers(), gradDrop ? c.nLayers() : 0)
                        + QK_FIX_GRAPH_MAPS * c.nLayers() * (double) c.nHeads() * t * t * elementBytes
                : 0;
        return bytes(graph + qk);
    }

    /**
     * The QK fix ({@link QkFix}) of a pair: float64 copies of queries, keys and their changes for {@code prepared}
     * layers, the seven kept tables of {@code kept} layers, and one chunk of query rows being made (its forty
     * temporaries, at most {@link QkFix#CHUNK_BYTES} unless a single row is larger). Measured with the tiny Llama at
     * 1,024 tokens over every node before the tables were chunked: 1.75 GB a row, estimated 2.2 GB.
     */
    private static double qkFixBytes(ModelConfig c, double t, int prepared, int kept) {
        double maps = (double) c.nHeads() * t * t;
        double inputs = QK_FIX_INPUTS * prepared * t * c.nHeads() * c.dHead();
        double row = QkFix.PREPARATION_MAPS * (double) c.nHeads() * t;
        double chunk =
                Math.min(QkFix.PREPARATION_MAPS * maps, Math.max(row, QkFix.CHUNK_BYTES / (double) Double.BYTES));
        return (inputs + kept * QkFix.KEPT_MAPS * maps + chunk) * Double.BYTES;
    }

    /**
     * A pair of AtP with per-layer recomputation ({@link LayerwiseGradientWork}): every layer's input residual stream
     * kept from the clean and noise forwards (no graph), one layer's forward working set, one layer's graph and node
     * sites (the plain pass's per-layer terms, once, with one chunk of query rows of its attention maps), the estimates of every layer made so far (per position when the
     * nodes are), with {@code qkFix} one layer's QK fix inputs and one chunk of its tables, and with {@code gradDrop}
     * each variant's residual gradient (L of [T, d_model]), and with {@code keepQkTables} one layer's kept QK-fix tables.
     */
    public static long layerwiseGradientRowBytes(
            ModelConfig c,
            int length,
            int elementBytes,
            boolean qkFix,
            boolean gradDrop,
            boolean perPosition,
            boolean keepQkTables) {
        double t = length;
        int maps = LAYERWISE_ATTENTION_MAPS + (qkFix ? LAYERWISE_PATTERN_GRADIENT_MAPS : 0);
        // A chunk's rows are sized so that CHUNK_MAPS of its maps hold CHUNK_BYTES, and are at least one row.
        double chunkRows = Math.min(
                t,
                Math.max(
                        1,
                        Math.floor(Attention.CHUNK_BYTES
                                / (Attention.CHUNK_MAPS
                                        * (double) c.nHeads()
                                        * t
                                        * Math.max(Float.BYTES, elementBytes)))));
        double attention = maps * (double) c.nHeads() * chunkRows * t * elementBytes;
        double graphLayer =
                t * (GRADIENT_RESIDUAL_WIDTHS * (double) c.dModel() + GRADIENT_MLP_WIDTHS * (double) c.dMlp());
        double sites = GRADIENT_SITE_COPIES * t * (4.0 * c.nHeads() * c.dHead() + c.dMlp());
        // Its forwards without a graph hook no attention map: their attention is made in chunks of query rows.
        double forwardAttention = Math.min(
                FORWARD_ATTENTION_MAPS * (double) c.nHeads() * t * t * elementBytes, chunkedAttentionBytes(c, t));
        double forwardLayer =
                t * (FORWARD_RESIDUAL_WIDTHS * (double) c.dModel() + FORWARD_MLP_WIDTHS * (double) c.dMlp());
        double kept = (gradDrop ? 3.0 : 2.0) * c.nLayers() * t * c.dModel();
        double logits = 2.0 * c.vocabSize();
        // Estimates are float32 or float64 whatever the model computes in: counted in float64 to be safe.
        double estimates = c.nLayers() * (perPosition ? t : 1) * (4.0 * c.nHeads() + c.dMlp() + 3) * Double.BYTES;
        double qk = qkFix ? qkFixBytes(c, t, 1, keepQkTables ? 1 : 0) : 0;
        double rest =
                (graphLayer + sites + forwardLayer + kept + logits) * elementBytes + forwardAttention + estimates + qk;
        return bytes(attention + (qkFix ? rest * LAYERWISE_QK_FIX_MARGIN : rest));
    }

    /**
     * A pair of an edge estimate ({@link EdgeEstimator}): a gradient pass whose readers' split inputs (queries, keys
     * and values per head, [T, heads, d_model], and their norms) are kept for the backward, every writer's change
     * [T, writers, d_model] with a copy per reader group's product, for EAP-IG its batch of interpolated runs, and
     * for the QK fix its memory-bounded chunk and each GradDrop variant's pattern gradient.
     */
    public static long edgeRowBytes(ModelConfig c, int length, int elementBytes, EdgeEstimate estimate, int steps) {
        double t = length;
        long gradient = gradientRowBytes(c, length, elementBytes, false, false);
        // Per layer the split inputs, their norms, the gradient leaves and the sums with them, kept for the backward.
        double readers = SPLIT_INPUT_COPIES * c.nLayers() * t * (c.nHeads() + 2.0 * c.nKvHeads()) * c.dModel();
        // The changes, their rows laid out for the products, and a group's gradient in the same layout.
        double writers = WRITER_COPIES * t * (1 + c.nLayers() * (c.nHeads() + 1.0)) * c.dModel();
        double row = gradient + (readers + writers) * elementBytes;
        if (estimate.integrated()) {
            row += Math.min(steps, InterpolatedRuns.ROWS) * (gradient + readers * elementBytes);
        }
        if (estimate.qkFix()) {
            double maps = (double) c.nHeads() * t * t;
            // GradDrop's pattern gradients kept per variant, and one writer's float64 tables at a time: the chunk
            // holds at least one writer, so past the chunk's bytes the tables grow as heads x T^2 (calibrated).
            double writerTables = EDGE_QK_FIX_WRITER_MAPS * Double.BYTES * maps;
            row += Math.max(EdgeReads.QK_FIX_CHUNK_BYTES, writerTables)
                    + maps * elementBytes * c.nLayers() * (c.nLayers() + 1) / 2.0;
        }
        return bytes(row);
    }

    /**
     * A pair of an edge estimate with per-layer recomputation ({@link LayerwiseEdgeWork}), at the larger of two
     * moments. While the changes are made: every layer's clean input kept (no graph), both forwards' writer outputs,
     * every writer's change [T, writers, d_model] in its one layout, and one layer's head writes being written into it
     * (four copies of [T, heads, d_model]). In the backward: the inputs and the changes, one recomputed layer as
     * {@link #layerwiseGradientRowBytes} counts it with its readers' split inputs, the estimates (per position when the
     * edges are), with GradDrop each variant's residual and attention-output gradients, with the QK fix one chunk of
     * its tables and a writer chunk's patched queries and keys, and for EAP-IG a batch of interpolated runs' kept
     * inputs and recomputed layer.
     */
    public static long layerwiseEdgeRowBytes(
            ModelConfig c, int length, int elementBytes, EdgeEstimate estimate, int steps, boolean perPosition) {
        double t = length;
        double writers = 1 + c.nLayers() * (c.nHeads() + 1.0);
        double inputs = c.nLayers() * t * c.dModel() * elementBytes;
        // Over all positions half models keep the changes in float32, the products' precision.
        double changes = writers * t * c.dModel() * (perPosition ? elementBytes : Math.max(Float.BYTES, elementBytes));
        double writerOutputs = 2.0 * c.nLayers() * t * (c.dModel() + (double) c.nHeads() * c.dHead()) * elementBytes;
        double headWrites = 4.0 * c.nHeads() * t * c.dModel() * Math.max(Float.BYTES, elementBytes);
        double making = inputs + writerOutputs + changes + headWrites;

        double layer = layerwiseGradientRowBytes(c, length, elementBytes, estimate.qkFix(), false, false, false);
        double readers = SPLIT_INPUT_COPIES * t * (c.nHeads() + 2.0 * c.nKvHeads()) * c.dModel() * elementBytes;
        double edges = new dev.patchbay.nodes.EdgeGraph(c).writers() * (3.0 * c.nHeads() + 2) * c.nLayers();
        // The estimates in float64, and one group's product in float32 and float64 while it is made.
        double estimates = edges * (perPosition ? t : 1) * Double.BYTES
                + (perPosition ? t : 1) * c.nHeads() * writers * (Float.BYTES + Double.BYTES);
        double backward = inputs + changes + layer + readers + estimates;
        if (estimate.gradDrop()) {
            backward += 2.0 * c.nLayers() * t * c.dModel() * elementBytes;
        }
        if (estimate.qkFix()) {
            backward += EdgeReads.QK_FIX_CHUNK_BYTES + 4.0 * t * c.nHeads() * c.dHead() * Double.BYTES;
        }
        if (estimate.integrated()) {
            int rows = Math.min(steps, InterpolatedRuns.ROWS);
            backward += rows * (inputs + layer + readers);
        }
        return bytes(LAYERWISE_EDGE_MARGIN * Math.max(making, backward));
    }

    private static long bytes(double value) {
        return value >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) Math.ceil(value);
    }
}
