package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * One forward pass's view of its {@link Hooks}: every site's activation flows through {@link #apply}, which
 * patches it, adds a zero leaf that requires gradient (so the leaf's gradient is the total derivative of the
 * metric with respect to the site, without detaching anything upstream), and caches it, in that order.
 *
 * <p>Two scopes: the pass's, which owns what the caller gets back (cached activations, gradient leaves,
 * per-pass tables), and the current layer's, which owns the layer's intermediates and is closed when the
 * next layer starts (see {@link HookedTransformer}). Closing a layer's arrays frees only what nothing else
 * refers to: autograd keeps the tensors the backward pass needs.
 */
public final class HookContext {
    private final NDManager pass;
    private NDManager scope;
    private final Hooks hooks;
    private final TokenBatch batch;
    private final Map<String, NDArray> cache = new LinkedHashMap<>();
    private final Map<String, NDArray> leaves = new HashMap<>();
    private final Map<String, Object> perPass = new HashMap<>();
    private final Map<Integer, AttentionBackwardInChunks> attentionInChunks = new LinkedHashMap<>();

    /** The edges this pass ablates and what it has recorded of them, or null. */
    private final AblatedEdges ablated;

    /**
     * Earlier positions' keys and values for a generation step, one cache per consecutive run of rows (in row
     * order); empty for a whole forward.
     */
    private final List<KvCache> kvCaches;

    /** Each row's first position: its cache's length (0 without a cache). */
    private final int[] offsets;

    public HookContext(NDManager pass, Hooks hooks, TokenBatch batch, ModelConfig config) {
        this(pass, hooks, batch, config, List.of());
    }

    public HookContext(NDManager pass, Hooks hooks, TokenBatch batch, ModelConfig config, List<KvCache> kvCaches) {
        this.pass = pass;
        this.scope = pass;
        this.hooks = hooks;
        this.batch = batch;
        this.ablated = hooks.ablation() == null ? null : new AblatedEdges(hooks.ablation(), config, pass);
        this.kvCaches = List.copyOf(kvCaches);
        this.offsets = new int[batch.size()];
        int row = 0;
        for (KvCache c : this.kvCaches) {
            Arrays.fill(offsets, row, row + c.rows(), c.length());
            row += c.rows();
        }
    }

    /** The caches of earlier positions, in row order; empty for a whole forward. */
    public List<KvCache> kvCaches() {
        return kvCaches;
    }

    /** Each row's first position: the positions its cache holds (0 without a cache). */
    public int[] offsets() {
        return offsets;
    }

    /** The first position every row shares, or -1 where the rows' caches differ in length. */
    public int sharedOffset() {
        for (int o : offsets) {
            if (o != offsets[0]) {
                return -1;
            }
        }
        return offsets.length == 0 ? 0 : offsets[0];
    }

    /** The prompts of this pass, with each row's own length. */
    public TokenBatch batch() {
        return batch;
    }

    /** The scope of the layer being computed: what is created here is freed when the layer is done. */
    public NDManager scope() {
        return scope;
    }

    /** The scope of the whole pass, which the caller closes. */
    public NDManager passScope() {
        return pass;
    }

    /** Makes {@code layer} the scope for what follows; the previous layer scope is the caller's to close. */
    public void enterLayer(NDManager layer) {
        this.scope = layer;
    }

    public Hooks hooks() {
        return hooks;
    }

    /** Thrown after the site a forward stops at ({@link Hooks.Builder#stopAfter}); caught by the model. */
    static final class Stopped extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Stopped() {
            super(null, null, false, false);
        }
    }

    /** Whether the hooks name this site themselves, or ablate edges: only then is a split input computed. */
    public boolean names(String site) {
        return hooks.names(site) || hooks.ablation() != null;
    }

    // ---- edge ablation (circuit evaluation): the per-pass state is AblatedEdges' ----

    private int layer;

    /** The layer whose block runs next (edge ablation reads and writes by layer). */
    public void startLayer(int l) {
        layer = l;
    }

    /** Records head writes z_h W_O[h] of the layer's output z [B, T, H, d_head], when edges are ablated. */
    public void headsWrote(NDArray z, NDArray wo) {
        if (ablated != null) {
            ablated.wrote(Functional.headWrites(z, wo));
        }
    }

    /** The final stream with the logits' ablated edges' changes added. */
    public NDArray logitsInput(NDArray resid) {
        return ablated == null ? resid : ablated.logitsInput(scope, resid);
    }

    public NDArray apply(String site, NDArray x) {
        if (ablated != null) {
            x = ablated.readerInput(scope, layer, site, x);
        }
        NDArray hooked = hooked(site, x);
        if (ablated != null && (site.equals(HookSites.mlpOut(layer)) || site.equals(HookSites.residPre(0)))) {
            ablated.wrote(hooked); // the MLP's output in this run, or the embeddings (the stream entering layer 0)
        }
        if (site.equals(hooks.stopAfter())) {
            throw new Stopped();
        }
        return hooked;
    }

    private NDArray hooked(String site, NDArray x) {
        if (!hooks.touches(site)) {
            return x;
        }
        List<Patch> patches = hooks.patchesAt(site);
        if (!patches.isEmpty()) {
            x = patch(site, x, patches);
        }
        List<Intervention> changes = hooks.interventionsAt(site);
        if (!changes.isEmpty()) {
            x = intervene(site, x, changes);
        }
        if (hooks.capturesGradient(site)) {
            NDArray leaf = pass.zeros(x.getShape(), x.getDataType());
            leaf.setRequiresGradient(true);
            leaves.put(site, leaf);
            x = x.add(leaf);
        }
        if (hooks.caches(site)) {
            // A view owned by the pass: x itself is freed with its layer.
            cache.put(site, scope == pass ? x : Scoped.view(pass, x));
        }
        return x;
    }

    /** Keeps the current layer's attention, made in chunks under a gradient, for the session's backward. */
    void keepForBackward(AttentionBackwardInChunks attention) {
        attentionInChunks.put(layer, attention);
    }

    /** The attentions made in chunks under a gradient, by layer, in the order the forward made them. */
    Map<Integer, AttentionBackwardInChunks> attentionInChunks() {
        return attentionInChunks;
    }

    public Map<String, NDArray> cache() {
        return cache;
    }

    public Map<String, NDArray> leaves() {
        return leaves;
    }

    /**
     * Additive causal mask [T_queries, T_keys]: 0 where a query may see a key, -inf after it and, with a sliding
     * window, at or before {@code window} positions back. Queries are the last positions of the keys (a generation
     * step's new tokens after the cached ones).
     */
    public NDArray causalMask(long queries, long keys, DataType type, int window) {
        return memo(
                "causal-mask " + window + " " + queries + "x" + keys,
                pass -> ScaledDotProduct.mask(pass, queries, keys, keys - queries, window, type));
    }

    /**
     * A value computed once per forward pass and shared by every layer (masks, rotary tables); {@code compute}
     * gets the pass's scope, which outlives the layers.
     */
    @SuppressWarnings("unchecked")
    <T> T memo(String key, Function<NDManager, T> compute) {
        return (T) perPass.computeIfAbsent(key, k -> compute.apply(pass));
    }

    private NDArray patch(String site, NDArray x, List<Patch> patches) {
        SiteLayout layout = HookSites.layoutOf(site);
        Shape shape = x.getShape();
        int rows = (int) shape.get(0);
        int positions = (int) shape.get(layout.positionAxis());
        int units = layout.unitAxis() < 0 ? 1 : (int) shape.get(layout.unitAxis());
        Shape rowShape = shape.slice(1);
        boolean[] mask = new boolean[rows * positions * units];
        NDArray[] sources = new NDArray[rows];
        NDArray[] given = new NDArray[rows];
        boolean[] mixed = new boolean[rows];
        for (Patch p : patches) {
            if (p.row() < 0 || p.row() >= rows) {
                throw new IllegalArgumentException(
                        "patch at " + site + ": row " + p.row() + " outside batch of " + rows);
            }
            int[] ts = indices(p.positions(), positions, site, "position");
            int[] us = layout.unitAxis() < 0 ? new int[] {0} : indices(p.units(), units, site, "unit");
            // A row's first source fills the whole row, so further patches from it (a baseline's group of
            // nodes) need nothing more, until another source has been mixed in.
            if (given[p.row()] == null) {
                given[p.row()] = p.source();
                sources[p.row()] = fitted(site, p.source(), rowShape, layout, x.getDataType());
            } else if (given[p.row()] != p.source() || mixed[p.row()]) {
                mixed[p.row()] = true;
                NDArray source = fitted(site, p.source(), rowShape, layout, x.getDataType());
                // A further source for the same row: it wins where its own mask is set.
                boolean[] own = new boolean[positions * units];
                for (int t : ts) {
                    for (int u : us) {
                        own[t * units + u] = true;
                    }
                }
                NDArray rowMask = rowMask(own, positions, units, layout).broadcast(rowShape);
                sources[p.row()] = NDArrays.where(rowMask, source, sources[p.row()]);
            }
            for (int t : ts) {
                for (int u : us) {
                    mask[(p.row() * positions + t) * units + u] = true;
                }
            }
        }
        NDList full = new NDList(rows);
        for (int r = 0; r < rows; r++) {
            full.add(sources[r] != null ? sources[r] : scope.zeros(rowShape, x.getDataType()));
        }
        NDArray source = Scoped.stack(scope, full);
        // DJL's where() does not broadcast its condition. The condition is made in the pass's scope: autograd keeps
        // it for the backward pass, and an array made from Java data lives only as long as its DJL array (see
        // Scalars), which a layer's scope would close first.
        NDArray condition = broadcastable(pass.create(mask, new Shape(rows, positions, units)), layout)
                .broadcast(shape);
        return NDArrays.where(condition, source, x);
    }

    /**
     * Applies interventions in order: x (1 - m) + m (a x + b), with m the chosen entries and (a, b) each operation's
     * (1, coefficient x value), (0, value), (coefficient, 0) or (0, 0). Entries outside m are x itself, bit for bit.
     */
    private NDArray intervene(String site, NDArray x, List<Intervention> changes) {
        SiteLayout layout = HookSites.layoutOf(site);
        Shape shape = x.getShape();
        int rows = (int) shape.get(0);
        int positions = (int) shape.get(layout.positionAxis());
        int units = layout.unitAxis() < 0 ? 1 : (int) shape.get(layout.unitAxis());
        long width = shape.get(shape.dimension() - 1);
        for (Intervention c : changes) {
            if (c.row() < 0 || c.row() >= rows) {
                throw new IllegalArgumentException(
                        "intervention at " + site + ": row " + c.row() + " outside batch of " + rows);
            }
            int[] ts = indices(c.positions(), positions, site, "position");
            int[] us = layout.unitAxis() < 0 ? new int[] {0} : indices(c.units(), units, site, "unit");
            boolean[] chosen = new boolean[rows * positions * units];
            for (int t : ts) {
                for (int u : us) {
                    chosen[(c.row() * positions + t) * units + u] = true;
                }
            }
            // Made in the pass's scope, as patch() makes its condition (autograd may keep it); where() does not
            // broadcast its condition.
            NDArray m = broadcastable(pass.create(chosen, new Shape(rows, positions, units)), layout)
                    .broadcast(shape);
            NDArray changed = switch (c.op()) {
                case ADD ->
                    x.add(value(site, c, layout, width, us, x.getDataType())
                            .mul(pass.create(c.coefficient()).toType(x.getDataType(), false)));
                case SET -> x.zerosLike().add(value(site, c, layout, width, us, x.getDataType()));
                case SCALE -> x.mul(pass.create(c.coefficient()).toType(x.getDataType(), false));
                case ZERO -> x.zerosLike();
            };
            x = NDArrays.where(m, changed, x);
        }
        return x;
    }

    /**
     * An intervention's value broadcastable against the site: one number; one per entry of the last axis; or, at an
     * MLP site with chosen neurons, one per chosen neuron.
     */
    private NDArray value(String site, Intervention c, SiteLayout layout, long width, int[] units, DataType type) {
        double[] v = c.value();
        if (v.length == 1) {
            return pass.create(v[0]).toType(type, false);
        }
        if (layout == SiteLayout.NEURONS && c.units() != null && v.length == units.length) {
            double[] full = new double[(int) width];
            for (int i = 0; i < units.length; i++) {
                full[units[i]] = v[i];
            }
            return pass.create(full).toType(type, false);
        }
        if (v.length != width) {
            throw new IllegalArgumentException("intervention at " + site + ": a value of " + v.length
                    + " numbers; give 1, or " + width + " (the site's last axis)"
                    + (layout == SiteLayout.NEURONS ? ", or one per chosen neuron" : ""));
        }
        return pass.create(v).toType(type, false);
    }

    private NDArray rowMask(boolean[] own, int positions, int units, SiteLayout layout) {
        NDArray m = pass.create(own, new Shape(1, positions, units)); // kept by autograd: see patch()
        return broadcastable(m, layout).squeeze(0);
    }

    /** Reshapes a [rows, positions, units] mask so that it broadcasts against the site's tensor. */
    private static NDArray broadcastable(NDArray mask, SiteLayout layout) {
        return switch (layout) {
            case RESIDUAL, NEURONS -> mask;
            case HEADS -> mask.expandDims(3);
            case ATTENTION_MAP -> mask.transpose(0, 2, 1).expandDims(3);
        };
    }

    private NDArray fitted(String site, NDArray source, Shape rowShape, SiteLayout layout, DataType type) {
        Shape s = source.getShape();
        if (layout == SiteLayout.HEADS
                && s.dimension() == rowShape.dimension() - 1
                && HookSite.of(site).splitInput()) {
            // A residual-shaped source [T, d_model] for a split input [T, heads, d_model]: the same stream for
            // each patched head (the mask picks which).
            source = Scoped.view(scope, source).expandDims(1).broadcast(new Shape(s.get(0), rowShape.get(1), s.get(1)));
            s = source.getShape();
        }
        int posAxis = layout.positionAxis() - 1;
        boolean sameExceptPositions = s.dimension() == rowShape.dimension();
        for (int i = 0; sameExceptPositions && i < s.dimension(); i++) {
            sameExceptPositions = i == posAxis ? s.get(i) <= rowShape.get(i) : s.get(i) == rowShape.get(i);
        }
        if (!sameExceptPositions) {
            throw new IllegalArgumentException(
                    "patch at " + site + ": source shape " + s + " does not fit row shape " + rowShape);
        }
        NDArray fitted = source.getDataType() == type
                ? source
                : Scoped.view(scope, source).toType(type, false);
        long missing = rowShape.get(posAxis) - s.get(posAxis);
        if (missing > 0) {
            // A copy: DJL's Shape hands out its own array, and the source's cached shape must not change.
            long[] padShape = s.getShape().clone();
            padShape[posAxis] = missing;
            fitted = Scoped.view(scope, fitted).concat(scope.zeros(new Shape(padShape), type), posAxis);
        }
        return fitted;
    }

    private static int[] indices(int[] chosen, int size, String site, String what) {
        if (chosen == null) {
            int[] all = new int[size];
            for (int i = 0; i < size; i++) {
                all[i] = i;
            }
            return all;
        }
        for (int i : chosen) {
            if (i < 0 || i >= size) {
                throw new IllegalArgumentException(
                        "patch at " + site + ": " + what + " " + i + " outside [0, " + size + ")");
            }
        }
        return chosen;
    }
}
