package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.model.AttentionBackwardInChunks;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.GradientSession;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Precision;
import dev.patchbay.model.Scoped;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The passes the AtP family shares for a batch of pairs: a noise forward, a clean forward whose graph is kept,
 * and the full backward of the metric. Both forwards unembed only each row's metric position, so neither they
 * nor the backward pay for logits the metric does not read (KL over the vocabulary at that position is exact). It
 * then turns whatever gradients the graph's leaves hold into per-node estimates, (n(noise) - n(clean)) .
 * dMetric/dn (eq. 4), or the QK fix for queries and keys (eqs. 6-10).
 */
final class GradientPass implements GradDrop.Backward, AutoCloseable {
    private final ModelConfig config;
    /**
     * The estimates' type: float64 for a float64 model (the precise checks), else float32. A float32 model's
     * activations and gradients carry float32's relative error (about 1e-7) already; summing a node's d_head
     * products in float64 added nothing to that and cost a conversion per block and twice the bytes to hold and read
     * back (a batch of 16 pairs of GPT-2 small at 64 tokens: 311 MB in float64). Half precision widens to float32
     * before its products. The QK fix computes in float64 and is narrowed here, like every group.
     */
    private final DataType estimateType;

    private final NodeSet nodes;
    private final boolean qkFix;
    private final List<BlockKey> groups = new ArrayList<>();
    private final Set<String> gradientSites = new LinkedHashSet<>();
    private final Set<String> cleanSites = new LinkedHashSet<>();
    private final GradientSession session;
    private CleanSide clean;
    private final ForwardResult noise;
    private final Map<String, NDArray> deltas = new HashMap<>();
    /** The pass's scope: what it keeps and what it returns belong here. */
    private final NDManager scope;

    private final Map<Integer, QkFix> qk = new HashMap<>();
    /** The clean run's attention by layer where it was differentiated in chunks (its maps never whole), else null. */
    private final Function<Integer, AttentionBackwardInChunks> attentionInChunks;

    private int[] positions;
    private NDArray positionIndex;
    private double[] cleanMetrics;
    private double[] noiseMetrics;

    /**
     * Runs the noise forward, the clean forward with its graph kept, and the full backward.
     *
     * @param residualGradients also capture the gradient at every layer's resid_post and keep every resid_pre,
     *     for GradDrop's partial backward passes
     */
    GradientPass(
            HookedTransformer model,
            NDManager scope,
            PairBatch batch,
            NodeSet nodes,
            boolean qkFix,
            boolean residualGradients) {
        this(model, scope, batch, nodes, qkFix, residualGradients, null, null, residualGradients, null);
    }

    /** Runs only the noise forward; the clean side comes from {@code cached}. */
    GradientPass(
            HookedTransformer model, NDManager scope, PairBatch batch, NodeSet nodes, boolean qkFix, CleanSide cached) {
        this(model, scope, batch, nodes, qkFix, false, cached, null, false, null);
    }

    /**
     * Runs nothing: the estimates of {@code nodes} from a noise run's activations at their sites and a clean side
     * (one recomputed layer of {@link LayerwiseGradientWork}). The metrics are the caller's.
     *
     * @param keepQkTables keep the QK fix's tables for many reads rather than make them at each
     * @param attentionInChunks the clean run's attention by layer where it was differentiated in chunks (the QK fix
     *     then reads its scores and pattern gradient from there, a chunk of rows at a time), or null
     */
    GradientPass(
            HookedTransformer model,
            NDManager scope,
            PairBatch batch,
            NodeSet nodes,
            boolean qkFix,
            ForwardResult noise,
            CleanSide clean,
            boolean keepQkTables,
            Function<Integer, AttentionBackwardInChunks> attentionInChunks) {
        this(model, scope, batch, nodes, qkFix, false, clean, noise, keepQkTables, attentionInChunks);
    }

    private GradientPass(
            HookedTransformer model,
            NDManager scope,
            PairBatch batch,
            NodeSet nodes,
            boolean qkFix,
            boolean residualGradients,
            CleanSide cached,
            ForwardResult givenNoise,
            boolean keepQkTables,
            Function<Integer, AttentionBackwardInChunks> attentionInChunks) {
        this.config = model.config();
        this.attentionInChunks = attentionInChunks;
        this.estimateType = model.dataType() == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
        this.scope = scope;
        this.nodes = nodes;
        this.qkFix = qkFix;
        Sites sites = Sites.of(config, nodes, qkFix, attentionInChunks == null);
        groups.addAll(sites.groups());
        Set<String> noiseSites = sites.noise();
        cleanSites.addAll(sites.clean());
        gradientSites.addAll(sites.gradient());
        if (residualGradients) {
            for (int l = 0; l < config.nLayers(); l++) {
                cleanSites.add(HookSites.residPre(l));
                gradientSites.add(HookSites.residPost(l));
            }
        }
        noise = givenNoise != null
                ? givenNoise
                : model.forward(
                        scope,
                        batch.noise,
                        Hooks.builder()
                                .cache(noiseSites)
                                .unembedOnly(batch.positions)
                                .build());
        if (cached != null) {
            session = null;
            clean = cached;
        } else {
            session = model.openGradientSession(
                    scope,
                    batch.clean,
                    Hooks.builder()
                            .cache(cleanSites)
                            .gradient(gradientSites)
                            .unembedOnly(batch.positions)
                            .build(),
                    batch.unembeddedMetric(scope, null));
        }
        try {
            if (session != null) {
                ForwardResult result = session.result();
                session.backward();
                NDArray reference = Precision.widened(
                                batch.unembeddedMetric(scope, null).atPositions(result.logits()))
                        .logSoftmax(-1)
                        .stopGradient();
                // Read from the leaves when asked: GradDrop's variants change them.
                clean = new CleanSide(
                        result.activations(), gradientSites, result::gradient, doubles(result.metric()), reference);
            }
            cleanMetrics = clean.metrics();
            // A noise side given for one layer has no logits: its metric is its caller's.
            noiseMetrics = noise.logits() == null
                    ? null
                    : doubles(batch.unembeddedMetric(scope, clean.reference()).apply(noise.logits()));
            positions = nodes.positions(batch.clean.length());
            for (BlockKey g : groups) {
                String site = g.kind().site(g.layer());
                deltas.computeIfAbsent(
                        site, s -> noise.activation(s).sub(clean.activations().get(s)));
                if (qkFix && (g.kind() == NodeKind.QUERY || g.kind() == NodeKind.KEY)) {
                    qk.computeIfAbsent(g.layer(), l -> {
                        if (attentionInChunks != null) {
                            return chunkedQkFix(l, keepQkTables);
                        }
                        NDArray scores = clean.activations().get(HookSites.attn(l, "attn_scores"));
                        // Kept where a layer is read many times (GradDrop's variants); else made at each read.
                        return new QkFix(
                                scores,
                                clean.activations().get(rotated(l, "q")),
                                noise.activation(rotated(l, "q")),
                                clean.activations().get(rotated(l, "k")),
                                noise.activation(rotated(l, "k")),
                                config.attnScale(l),
                                config.attnSoftcap(),
                                !nodes.perPosition(),
                                keepQkTables,
                                QkFix.rowsPerChunk(scores.getShape()));
                    });
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * What a gradient pass over {@code nodes} reads: its groups (layer by layer, kinds in order), the sites of the
     * noise run's activations, the clean run's activations and the clean run's gradients (with the QK fix, the rotated
     * queries and keys of both runs, the clean scores and the pattern's gradient).
     */
    record Sites(List<BlockKey> groups, Set<String> noise, Set<String> clean, Set<String> gradient) {
        static Sites of(ModelConfig config, NodeSet nodes, boolean qkFix) {
            return of(config, nodes, qkFix, true);
        }

        /**
         * @param mapsWhole whether the QK fix reads the scores and the pattern's gradient at their sites; where the
         *     attention is differentiated in chunks they are never whole, and it reads them from the attention
         */
        static Sites of(ModelConfig config, NodeSet nodes, boolean qkFix, boolean mapsWhole) {
            Sites s = new Sites(new ArrayList<>(), new LinkedHashSet<>(), new LinkedHashSet<>(), new LinkedHashSet<>());
            for (int layer : nodes.layers(config)) {
                for (NodeKind kind : nodes.orderedKinds()) {
                    s.groups.add(new BlockKey(kind, layer));
                    String site = kind.site(layer);
                    s.noise.add(site);
                    s.clean.add(site);
                    s.gradient.add(site);
                    if (qkFix && (kind == NodeKind.QUERY || kind == NodeKind.KEY)) {
                        for (String r : List.of(rotated(config, layer, "q"), rotated(config, layer, "k"))) {
                            s.noise.add(r);
                            s.clean.add(r);
                        }
                        if (mapsWhole) {
                            s.clean.add(HookSites.attn(layer, "attn_scores"));
                            s.gradient.add(HookSites.attn(layer, "pattern"));
                        }
                    }
                }
            }
            return s;
        }
    }

    /** Each pair's clean side packed for a cache: the estimates' sites only, with the gradients as they are now. */
    List<PackedCleanSide> packedCleanRows() {
        Map<String, NDArray> activations = new HashMap<>();
        cleanSites.forEach(s -> activations.put(s, clean.activations().get(s)));
        return new CleanSide(activations, gradientSites, clean.gradients(), cleanMetrics, clean.reference()).packRows();
    }

    List<BlockKey> groups() {
        return groups;
    }

    int[] positions() {
        return positions;
    }

    double[] cleanMetrics() {
        return cleanMetrics;
    }

    double[] noiseMetrics() {
        return noiseMetrics;
    }

    /**
     * Signed estimates [pair, node] of one group (on the device, in {@link #estimateType}) from the gradients the
     * leaves hold now. Computed in a scope of its own, closed on return: GradDrop asks once per variant, and the
     * products over every coordinate would otherwise stay until the pass ends. The result belongs to the pass; the
     * caller may close it.
     */
    NDArray estimates(BlockKey g) {
        try (NDManager work = scope.newSubManager()) {
            NDArray result = estimatesIn(work, g).toType(estimateType, false);
            result.attach(scope);
            return result;
        }
    }

    private NDArray estimatesIn(NDManager work, BlockKey g) {
        NDArray perPosition;
        if (qkFix && g.kind() == NodeKind.QUERY) {
            perPosition = qk.get(g.layer()).queries(work, patternGradient(work, g.layer()));
        } else if (qkFix && g.kind() == NodeKind.KEY) {
            QkFix.Rows pattern = patternGradient(work, g.layer());
            if (!nodes.perPosition()) {
                return qk.get(g.layer()).allKeys(work, pattern);
            }
            perPosition = qk.get(g.layer()).keys(work, pattern);
        } else {
            String site = g.kind().site(g.layer());
            NDArray delta = Scoped.view(work, deltas.get(site));
            NDArray grad = Scoped.view(work, gradient(site));
            // A half-precision product and its sums would themselves be half: widen first there.
            NDArray product = Precision.isHalf(delta.getDataType())
                    ? delta.toType(DataType.FLOAT32, false).mul(grad.toType(DataType.FLOAT32, false))
                    : delta.mul(grad);
            // Sum over each node's own coordinates: d_head for q/k/v/z, d_model for whole-layer outputs.
            perPosition = g.kind().hasUnits() && g.kind() != NodeKind.NEURON
                    ? product.sum(new int[] {-1})
                    : g.kind() == NodeKind.NEURON ? product : product.sum(new int[] {-1}, true);
        }
        NDArray chosen;
        if (positions == null) {
            chosen = perPosition.sum(new int[] {1});
        } else if (positions.length == perPosition.getShape().get(1)) {
            chosen = perPosition; // every position, in order (positions are sorted and distinct): nothing to pick
        } else {
            chosen = perPosition.get(new NDIndex(":, {}", positionIndex()));
        }
        return chosen.reshape(chosen.getShape().get(0), -1);
    }

    /**
     * The chosen positions as an index array, made once per pass: on a GPU, making it is a copy from the host that
     * waits for the queued kernels, once per block otherwise.
     */
    private NDArray positionIndex() {
        if (positionIndex == null) {
            positionIndex = scope.create(toLongs(positions));
        }
        return positionIndex;
    }

    /** Resets every captured gradient to zero. */
    @Override
    public void zeroGradients() {
        session.zeroGradients(gradientSites);
    }

    /** The full gradient at resid_post(l), copied so that later backward passes cannot change it. */
    @Override
    public NDArray residualGradient(int layer) {
        return gradient(HookSites.residPost(layer)).duplicate();
    }

    /** Pushes {@code upstream} back from resid_pre(layer) through the layers below it. */
    @Override
    public void backwardFrom(int layer, NDArray upstream) {
        session.backwardFrom(HookSites.residPre(layer), upstream);
    }

    /** The gradient at layer {@code layer}'s pattern as it is now, by query rows. */
    private QkFix.Rows patternGradient(NDManager work, int layer) {
        if (attentionInChunks != null) {
            return attentionInChunks.apply(layer)::patternGradientRows;
        }
        return QkFix.Rows.of(Scoped.view(work, gradient(HookSites.attn(layer, "pattern"))));
    }

    /** The QK fix of a layer whose attention was differentiated in chunks: its scores made a chunk of rows at a time. */
    private QkFix chunkedQkFix(int layer, boolean keepQkTables) {
        AttentionBackwardInChunks attention = attentionInChunks.apply(layer);
        NDArray cleanQ = clean.activations().get(rotated(layer, "q"));
        long rows = cleanQ.getShape().get(0);
        long heads = cleanQ.getShape().get(2);
        int length = attention.length();
        return new QkFix(
                attention::scoresRows,
                length,
                scope,
                cleanQ,
                noise.activation(rotated(layer, "q")),
                clean.activations().get(rotated(layer, "k")),
                noise.activation(rotated(layer, "k")),
                config.attnScale(layer),
                config.attnSoftcap(),
                !nodes.perPosition(),
                keepQkTables,
                QkFix.rowsPerChunk(rows, heads, length, length));
    }

    private NDArray gradient(String site) {
        return clean.gradients().apply(site);
    }

    private String rotated(int layer, String qOrK) {
        return rotated(config, layer, qOrK);
    }

    /** Queries or keys as the scores use them: after rotary where the model has it. */
    private static String rotated(ModelConfig config, int layer, String qOrK) {
        return HookSites.attn(layer, config.rotaryDim() > 0 ? "rot_" + qOrK : qOrK);
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }

    private static long[] toLongs(int[] ints) {
        long[] out = new long[ints.length];
        for (int i = 0; i < ints.length; i++) {
            out[i] = ints[i];
        }
        return out;
    }

    @Override
    public void close() {
        if (session != null) {
            session.close();
        }
    }
}
