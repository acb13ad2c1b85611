package dev.patchbay.model;

import static dev.patchbay.model.Functional.norm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * A decoder-only transformer whose every internal activation can be read, overwritten and differentiated at
 * TransformerLens-named hook sites. The weights live in the model's own manager; everything a forward pass
 * creates lives in the scope the caller passes, so closing that scope frees the pass.
 *
 * <p>Passes on different threads may run at once, gradients too: PyTorch's gradient mode is per thread (see
 * {@link GradMode}). A pass itself runs on one thread.
 */
public final class HookedTransformer implements AutoCloseable {
    private final ModelConfig config;
    private final NDManager manager;
    private final NDArray tokenEmbedding;
    private final NDArray positionEmbedding;
    private final List<TransformerBlock> blocks;
    private final NDArray finalNormWeight;
    private final NDArray finalNormBias;
    private final NDArray unembed;
    private final Set<String> sites;

    /** Assembled by a family ({@code dev.patchbay.model.family}) from its checkpoint's weights. */
    public HookedTransformer(
            ModelConfig config,
            NDManager manager,
            NDArray tokenEmbedding,
            NDArray positionEmbedding,
            List<TransformerBlock> blocks,
            NDArray finalNormWeight,
            NDArray finalNormBias,
            NDArray unembed) {
        this.config = config;
        this.manager = manager;
        this.tokenEmbedding = tokenEmbedding;
        this.positionEmbedding = positionEmbedding;
        this.blocks = blocks;
        this.finalNormWeight = finalNormWeight;
        this.finalNormBias = finalNormBias;
        this.unembed = unembed;
        this.sites = new LinkedHashSet<>(HookSites.all(config));
    }

    public ModelConfig config() {
        return config;
    }

    /** The compute dtype of the weights (FLOAT32, or FLOAT64 for precise checks). */
    public DataType dataType() {
        return tokenEmbedding.getDataType();
    }

    /** The engine and device the weights live on; every pass's scope should come from here. */
    public ComputeContext compute() {
        return ComputeContext.of(manager);
    }

    /** Every hook site, in the order a forward pass reaches them. */
    public Set<String> hookSites() {
        return sites;
    }

    /** A forward pass with hooks but no gradients. */
    public ForwardResult forward(NDManager scope, TokenBatch batch, Hooks hooks) {
        check(batch, hooks);
        HookContext ctx = new HookContext(scope, hooks, batch, config);
        NDArray logits;
        try {
            logits = run(batch, ctx);
        } catch (HookContext.Stopped stopped) {
            logits = null;
        }
        return new ForwardResult(logits, ctx.cache(), ctx.leaves(), null);
    }

    /**
     * A generation step: {@code batch} (every row of one length) continues the sequences whose earlier positions
     * {@code caches} hold, computing only its own positions; the caches then hold them too. The caches take the
     * batch's rows in order ({@link KvCache#rows} each) and may differ in length: each row attends to its own
     * cache's positions, and the steps of several generations run as one batch. The first step (an empty cache)
     * is the prompts' whole forward. Not with edge ablation or gradients, and with several caches not with hooks on
     * the attention maps (their key axes differ by cache).
     */
    public ForwardResult forwardCached(NDManager scope, List<KvCache> caches, TokenBatch batch, Hooks hooks) {
        check(batch, hooks);
        for (int r = 0; r < batch.size(); r++) {
            if (batch.length(r) != batch.length()) {
                throw new IllegalArgumentException("a cached step runs rows of one length; row " + r + " has "
                        + batch.length(r) + " tokens, not " + batch.length());
            }
        }
        if (hooks.ablation() != null || hooks.stopAfter() != null) {
            throw new IllegalArgumentException("a cached step runs the whole model, without edge ablation");
        }
        int rows = caches.stream().mapToInt(KvCache::rows).sum();
        if (caches.isEmpty() || rows != batch.size()) {
            throw new IllegalArgumentException(
                    "the caches hold " + rows + " sequences for a step of " + batch.size() + " rows");
        }
        for (KvCache cache : caches) {
            if (config.learnedPositions() && cache.length() + batch.length() > config.maxPositions()) {
                throw new IllegalArgumentException("a sequence of " + (cache.length() + batch.length())
                        + " tokens exceeds the model's " + config.maxPositions() + " positions");
            }
        }
        if (caches.size() > 1 && hooks.touchesAttentionMaps()) {
            throw new IllegalArgumentException(
                    "hooks on attn_scores or pattern need the step's rows in one cache (their key axes differ)");
        }
        HookContext ctx = new HookContext(scope, hooks, batch, config, caches);
        NDArray logits = run(batch, ctx);
        caches.forEach(KvCache::commit);
        return new ForwardResult(logits, ctx.cache(), ctx.leaves(), null);
    }

    /**
     * A forward and a backward pass of {@code metric}, which maps logits [B, T, V] to one value per row [B].
     * The backward pass runs on the sum over rows, so each row's gradients are its own metric's.
     */
    public ForwardResult forwardWithGradients(
            NDManager scope, TokenBatch batch, Hooks hooks, Function<NDArray, NDArray> metric) {
        check(batch, hooks);
        if (hooks.attentionGradientInChunks()) {
            throw new IllegalArgumentException("attention differentiated in chunks needs a gradient session");
        }
        try (GradMode on = GradMode.enable()) {
            HookContext ctx = new HookContext(scope, hooks, batch, config);
            NDArray logits = run(batch, ctx);
            NDArray perRow = metric.apply(logits);
            NDArray total = perRow.sum();
            JniUtils.backward((PtNDArray) total, (PtNDArray) total.onesLike(), false, false);
            return new ForwardResult(logits.stopGradient(), ctx.cache(), ctx.leaves(), perRow.stopGradient());
        }
    }

    /**
     * A forward pass that starts at layer {@code layer} from a given residual stream [B, T, d_model] instead of
     * the embeddings (activation patching resumes from the clean run's resid_pre there, so earlier layers are
     * not recomputed). Hooks at earlier layers are not reached. A patched run reads its metric at one position,
     * and at a late layer the unembedding is most of the work: ask for that position with
     * {@link Hooks.Builder#unembedOnly}.
     */
    public ForwardResult forwardFrom(NDManager scope, TokenBatch batch, int layer, NDArray residPre, Hooks hooks) {
        check(batch, hooks);
        if (layer < 0 || layer >= blocks.size()) {
            throw new IllegalArgumentException("cannot resume at layer " + layer + " of " + blocks.size());
        }
        if (hooks.ablation() != null) {
            throw new IllegalArgumentException("edge ablation needs every writer's output: run the whole forward");
        }
        HookContext ctx = new HookContext(scope, hooks, batch, config);
        NDArray logits;
        try {
            logits = runBlocks(layer, Scoped.view(scope, residPre), ctx, hooks.logitPositions());
        } catch (HookContext.Stopped stopped) {
            logits = null;
        }
        return new ForwardResult(logits, ctx.cache(), ctx.leaves(), null);
    }

    /**
     * A forward pass whose graph is kept for several backward passes (see {@link GradientSession}); the
     * metric maps logits [B, T, V] to one value per row [B]. Close the session before opening another.
     */
    public GradientSession openGradientSession(
            NDManager scope, TokenBatch batch, Hooks hooks, Function<NDArray, NDArray> metric) {
        check(batch, hooks);
        return GradientSession.open(config, this::run, scope, batch, hooks, metric);
    }

    /**
     * A gradient session over layers {@code layer..L-1} from a given residual stream [B, T, d_model] (a kept input:
     * per-layer recomputation runs one layer at a time this way). With {@link Hooks.Builder#stopAfter} the forward
     * ends at that site, the session has no logits and {@code metric} must be null: push a gradient back from the site
     * with {@link GradientSession#backwardFrom}. The input is read as a value; capture its gradient by naming its
     * resid_pre site in the hooks.
     */
    public GradientSession openGradientSessionFrom(
            NDManager scope,
            TokenBatch batch,
            int layer,
            NDArray residPre,
            Hooks hooks,
            Function<NDArray, NDArray> metric) {
        check(batch, hooks);
        if (layer < 0 || layer >= blocks.size()) {
            throw new IllegalArgumentException("cannot resume at layer " + layer + " of " + blocks.size());
        }
        if (hooks.ablation() != null) {
            throw new IllegalArgumentException("edge ablation needs every writer's output: run the whole forward");
        }
        return GradientSession.open(
                config,
                (b, ctx) -> {
                    try {
                        return runBlocks(
                                layer, Scoped.view(scope, residPre).stopGradient(), ctx, hooks.logitPositions());
                    } catch (HookContext.Stopped stopped) {
                        return null;
                    }
                },
                scope,
                batch,
                hooks,
                metric);
    }

    /**
     * How much each head of layer {@code layer} moves the residual stream when its output changes from
     * {@code cleanZ} to {@code noiseZ} ([B, T, H, d_head] each) with every other head clean: [B, T, H, d_model].
     * Where the output projection writes to the stream directly this is head h's own write, (z'_h - z_h) W_O[h];
     * where a norm follows it (Gemma, OLMo 2) it is the normalized output with head h changed alone, less the
     * clean one. An edge from the head adds exactly this to its reader's input (docs/spec/atp-spec.md, edges).
     */
    public NDArray headWriteChanges(int layer, NDArray cleanZ, NDArray noiseZ) {
        return blocks.get(layer).headWriteChanges(cleanZ, noiseZ);
    }

    /**
     * An empty KV cache for {@code rows} sequences of this model, for {@link #forwardCached}, with room for
     * {@code capacity} positions (a prompt and its new tokens) before it grows.
     */
    public KvCache newKvCache(int rows, int capacity) {
        return new KvCache(compute(), config.nLayers(), rows, capacity);
    }

    /** An empty KV cache sized by its first forward (it doubles when a later one overflows it). */
    public KvCache newKvCache(int rows) {
        return newKvCache(rows, 1);
    }

    /**
     * Whether every layer's heads' writes add up to its attention output (no norm after the sum), so that a head has
     * a write of its own: what circuits and causal scrubbing, which ablate a head's edges, need.
     */
    public boolean headWritesAdd() {
        return blocks.stream().allMatch(TransformerBlock::headWritesAdd);
    }

    /**
     * Each head's write z_h W_O[h] to the residual stream, [B, T, H, d_model], from layer {@code layer}'s output z
     * [B, T, H, d_head]; only where heads' writes add up ({@link TransformerBlock#headWritesAdd}).
     */
    public NDArray headWrites(int layer, NDArray z) {
        if (!blocks.get(layer).headWritesAdd()) {
            throw new IllegalArgumentException(config.architecture().modelType()
                    + " normalizes the attention output after the heads are summed: a head has no write of its own");
        }
        return blocks.get(layer).headWriteChanges(z.zerosLike(), z);
    }

    NDArray run(TokenBatch batch, HookContext ctx) {
        NDManager scope = ctx.scope();
        NDArray ids = batch.ids(scope);
        NDArray embedded = tokenEmbedding.get(scope, new NDIndex("{}", ids));
        if (config.embedScale() != 1) {
            embedded = Scalars.times(embedded, config.embedScale());
        }
        NDArray resid = ctx.apply(HookSites.EMBED, embedded);
        if (positionEmbedding != null) {
            resid = resid.add(ctx.apply(HookSites.POS_EMBED, positions(scope, batch, ctx)));
        }
        return runBlocks(0, resid, ctx, ctx.hooks().logitPositions());
    }

    /**
     * The learned position embeddings [B, T, d_model] of the batch's positions, which follow each row's cached
     * ones in a generation step.
     */
    private NDArray positions(NDManager scope, TokenBatch batch, HookContext ctx) {
        int offset = ctx.sharedOffset();
        if (offset >= 0) {
            return positionEmbedding
                    .get(scope, new NDIndex("{}:{}", offset, offset + batch.length()))
                    .expandDims(0)
                    .repeat(0, batch.size());
        }
        NDList rows = new NDList();
        for (int r : ctx.offsets()) {
            rows.add(positionEmbedding.get(scope, new NDIndex("{}:{}", r, r + batch.length())));
        }
        return NDArrays.stack(rows);
    }

    /**
     * Runs layers {@code first..L-1}, the final norm and the unembedding. Each layer computes in a scope of its
     * own that is closed once the next layer holds its output, so a pass keeps a working set of about one
     * layer rather than every intermediate until the caller closes the pass (activation patching of 144 heads
     * grew resident memory by 2.4 GB before, mostly MLP intermediates of 48-row batches). What the caller gets
     * back (logits, cached activations, gradient leaves) is owned by the pass scope.
     */
    private NDArray runBlocks(int first, NDArray resid, HookContext ctx, int[] logitPositions) {
        NDManager pass = ctx.passScope();
        NDManager layerScope = pass.newSubManager();
        try {
            resid = Scoped.view(layerScope, resid);
            for (int l = first; l < blocks.size(); l++) {
                ctx.enterLayer(layerScope);
                ctx.startLayer(l);
                resid = ctx.apply(HookSites.residPre(l), resid);
                NDArray out = blocks.get(l).forward(resid, ctx);
                if (ctx.hooks().stopsGradientThrough(l)) {
                    // Same values bit for bit (x - x is exactly 0), but the gradient reaches resid_pre only
                    // through the skip connection: layer l's own write is a constant to the backward pass.
                    out = out.stopGradient().add(resid.sub(resid.stopGradient()));
                }
                resid = ctx.apply(HookSites.residPost(l), out);
                NDManager next = pass.newSubManager();
                resid = Scoped.view(next, resid);
                layerScope.close();
                layerScope = next;
            }
            ctx.enterLayer(layerScope);
            // The logits read the final stream: with edges ablated, add what their ablated edges change.
            resid = ctx.logitsInput(resid);
            NDArray normalized = norm(config, resid, finalNormWeight, finalNormBias);
            normalized = ctx.apply(HookSites.FINAL_NORMALIZED, normalized);
            if (logitPositions != null) {
                long length = normalized.getShape().get(1);
                long[] rows = new long[logitPositions.length];
                for (int r = 0; r < rows.length; r++) {
                    rows[r] = r * length + logitPositions[r];
                }
                normalized = normalized
                        .reshape(rows.length * length, config.dModel())
                        // The index is kept by autograd for the backward pass, after this layer's scope
                        // closes; an array over Java data must outlive it (see Scalars): the pass owns it.
                        .get(new NDIndex("{}", pass.create(rows)))
                        .expandDims(1);
            }
            return Scoped.view(pass, Functional.softcap(normalized.matMul(unembed), config.logitSoftcap()));
        } finally {
            ctx.enterLayer(pass);
            layerScope.close();
        }
    }

    private void check(TokenBatch batch, Hooks hooks) {
        batch.checkIds(config.vocabSize());
        if (config.learnedPositions() && batch.length() > config.maxPositions()) {
            throw new IllegalArgumentException("a prompt of " + batch.length() + " tokens exceeds the model's "
                    + config.maxPositions() + " positions");
        }
        for (String site : hooks.namedSites()) {
            if (!sites.contains(site)) {
                throw new IllegalArgumentException("unknown hook site '" + site + "'");
            }
        }
        int[] logitPositions = hooks.logitPositions();
        if (logitPositions != null) {
            if (logitPositions.length != batch.size()) {
                throw new IllegalArgumentException("need one position to unembed per row, got " + logitPositions.length
                        + " for " + batch.size() + " rows");
            }
            for (int p : logitPositions) {
                if (p < 0 || p >= batch.length()) {
                    throw new IllegalArgumentException("cannot unembed position " + p + " of " + batch.length());
                }
            }
        }
        if (hooks.ablation() != null && !blocks.stream().allMatch(TransformerBlock::headWritesAdd)) {
            throw new IllegalArgumentException(
                    "edge ablation (circuit evaluation) needs heads whose writes add up to the"
                            + " attention output; " + config.architecture().modelType()
                            + " normalizes that output after the"
                            + " heads are summed");
        }
        if (hooks.highestStoppedLayer() >= config.nLayers()) {
            throw new IllegalArgumentException("cannot stop the gradient through layer " + hooks.highestStoppedLayer()
                    + " of a model with " + config.nLayers() + " layers");
        }
    }

    /** The manager that owns the weights; a pass that leaves arrays here leaks them for the model's lifetime. */
    NDManager weightsManager() {
        return manager;
    }

    @Override
    public void close() {
        manager.close();
    }
}
