package dev.patchbay.execution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.KvCache;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.CircuitBatch;
import dev.patchbay.passes.EdgeEstimate;
import dev.patchbay.passes.EdgeEstimates;
import dev.patchbay.passes.EdgeEstimator;
import dev.patchbay.passes.EdgeWork;
import dev.patchbay.passes.GenerationStep;
import dev.patchbay.passes.GradientEstimates;
import dev.patchbay.passes.GradientEstimator;
import dev.patchbay.passes.GradientVariant;
import dev.patchbay.passes.GradientWork;
import dev.patchbay.passes.PackedCleanSide;
import dev.patchbay.passes.PassMemory;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.PatchBatch;
import dev.patchbay.passes.PatchRow;
import dev.patchbay.passes.ScrubBatch;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One model's compute, on one worker thread: two threads on one model would only fight over its cores, while
 * the workers of two models differentiate at the same time (gradient mode is per thread). Requests run their
 * orchestration on their own threads and submit passes here; the {@link BatchQueue} decides the order and the
 * merging (fairness, row and token limits, readiness, cancellation), and this class runs each batch: clean
 * forwards (served from the {@link CleanCache} when it can), patched runs of one layer, and the AtP family's
 * pair batches.
 */
public final class Device implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Device.class);

    private final String modelName;
    private final HookedTransformer model;
    private final SchedulerConfig config;
    private final CleanCache cache;
    private final BatchQueue<Work<?>> queue;
    private final Thread worker;
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong sharedBatches = new AtomicLong();
    private final AtomicLong passes = new AtomicLong();
    /** Bytes per activation value, read once: planning must not touch the model's arrays. */
    private final int elementBytes;

    public Device(String modelName, HookedTransformer model, SchedulerConfig config) {
        this.modelName = modelName;
        this.model = model;
        this.config = config;
        this.elementBytes = model.dataType().getNumOfBytes();
        this.cache = new CleanCache(config.cacheBytes(), model.compute());
        this.queue = new BatchQueue<>(new BatchQueue.Limits(
                config.maxBatchRows(), config.maxBatchTokens(), config.queueDelay(), config.memoryBudget()));
        this.worker = new Thread(this::work, "patchbay-device-" + modelName);
        worker.setDaemon(true);
        worker.start();
    }

    public HookedTransformer model() {
        return model;
    }

    public CleanCache cache() {
        return cache;
    }

    /**
     * How many rows of a forward pass (a clean, noise or patched run) of {@code length} tokens fit the memory
     * budget; 0 when not even one does.
     */
    public int forwardRowsFitting(int length) {
        return rowsFitting(forwardRowBytes(length));
    }

    /**
     * How many pairs of an AtP-family pass of {@code length} tokens fit the memory budget (with the QK fix's
     * tables where {@code qkFix}); 0 when none does.
     */
    public int gradientRowsFitting(int length, boolean qkFix) {
        return rowsFitting(gradientRowBytes(length, qkFix));
    }

    /** How many pairs of an edge estimate of {@code length} tokens fit the memory budget; 0 when none does. */
    public int edgeRowsFitting(int length, EdgeEstimate estimate, int steps) {
        return rowsFitting(edgeRowBytes(length, estimate, steps));
    }

    /** Estimated native bytes of one pair of an edge estimate (see {@link PassMemory#edgeRowBytes}). */
    public long edgeRowBytes(int length, EdgeEstimate estimate, int steps) {
        return PassMemory.edgeRowBytes(model.config(), length, elementBytes, estimate, steps);
    }

    /** Estimated native bytes of one forward row of {@code length} tokens (see {@link PassMemory}). */
    public long forwardRowBytes(int length) {
        return PassMemory.forwardRowBytes(model.config(), length, elementBytes);
    }

    /**
     * Estimated native bytes of a generation of {@code rows} sequences reaching {@code length} tokens: its KV cache
     * and its first step, which runs the prompts whole (see {@link PassMemory}).
     */
    public long generationBytes(int rows, int length) {
        return PassMemory.kvCacheBytes(model.config(), rows, length, elementBytes)
                + rows * PassMemory.forwardRowBytes(model.config(), length, elementBytes);
    }

    /** Estimated native bytes of one AtP-family pair of {@code length} tokens (see {@link PassMemory}). */
    public long gradientRowBytes(int length, boolean qkFix) {
        return PassMemory.gradientRowBytes(model.config(), length, elementBytes, qkFix);
    }

    /** "float32" or "float64": the precision the model computes in. */
    /** The compute precision's name: float32, float64, float16 or bfloat16. */
    public String dtype() {
        return model.dataType().toString().toLowerCase(java.util.Locale.ROOT);
    }

    public long memoryBudget() {
        return config.memoryBudget();
    }

    private int rowsFitting(long rowBytes) {
        return (int) Math.min(Integer.MAX_VALUE, config.memoryBudget() / Math.max(1, rowBytes));
    }

    /** Batches run so far, and how many of them carried passes of more than one request. */
    public long batches() {
        return batches.get();
    }

    public long sharedBatches() {
        return sharedBatches.get();
    }

    /** Requests registered and not yet closed. */
    public int openJobs() {
        return queue.openLines();
    }

    /** Passes run so far, over all batches: one per submitted pass, however they were merged. */
    public long passes() {
        return passes.get();
    }

    /**
     * Registers a request. {@code ready} tells whether its client can take more results now; call
     * {@link #wake()} when that changes.
     */
    public Job open(String id, BooleanSupplier ready) {
        return new Job(queue.open(id, ready));
    }

    /** As {@link #open(String, BooleanSupplier)}; the job's pending passes are dropped at the deadline. */
    public Job open(String id, BooleanSupplier ready, Instant deadline) {
        long left = Duration.between(Instant.now(), deadline).toNanos();
        return new Job(queue.open(id, ready, System.nanoTime() + left));
    }

    /** Tells the worker that a client became ready. */
    public void wake() {
        queue.wake();
    }

    /** A request's handle: its runner, and its cancellation. */
    public final class Job implements AutoCloseable {
        private final BatchQueue<Work<?>>.Line line;

        private Job(BatchQueue<Work<?>>.Line line) {
            this.line = line;
        }

        public String id() {
            return line.id();
        }

        /** The runner through which this job's method does its compute. */
        public PassRunner runner() {
            return new Runner(this);
        }

        /** Drops the job's pending passes; its thread gets a CancellationException from the runner. */
        public void cancel() {
            line.cancel();
        }

        public boolean cancelled() {
            return line.cancelled();
        }

        @Override
        public void close() {
            line.close();
        }
    }

    private <T> T submit(Work<T> work) {
        work.job.line.submit(work);
        try {
            return work.result.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            work.job.cancel();
            throw new CancellationException("interrupted");
        } catch (CancellationException e) {
            throw new CancellationException("request " + work.job.id() + " was cancelled");
        }
    }

    private void work() {
        try {
            for (List<Work<?>> batch = queue.take(); !batch.isEmpty(); batch = queue.take()) {
                run(batch);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void run(List<Work<?>> batch) {
        batches.incrementAndGet();
        passes.addAndGet(batch.size());
        if (batch.size() > 1) {
            sharedBatches.incrementAndGet();
        }
        try {
            batch.get(0).runBatch(batch);
        } catch (RuntimeException | Error e) {
            if (batch.size() == 1) {
                log.warn("pass of request {} failed", batch.get(0).job.id(), e);
                batch.get(0).result.completeExceptionally(e);
                return;
            }
            // A failure in a shared batch must fail only the request at fault: run each alone.
            for (Work<?> w : batch) {
                try {
                    w.runBatch(List.of(w));
                } catch (RuntimeException | Error single) {
                    log.warn("pass of request {} failed", w.job.id(), single);
                    w.result.completeExceptionally(single);
                }
            }
        }
    }

    @Override
    public void close() {
        log.info(
                "model {}: {} passes in {} batches ({} shared by several requests)",
                modelName,
                passes.get(),
                batches.get(),
                sharedBatches.get());
        queue.close();
        try {
            worker.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        cache.close();
    }

    // ---- passes ----

    private abstract static class Work<T> implements BatchQueue.Task<Work<?>> {
        final Job job;
        final CompletableFuture<T> result = new CompletableFuture<>();

        Work(Job job) {
            this.job = job;
        }

        @Override
        public boolean mergeable() {
            return false;
        }

        @Override
        public boolean compatible(Work<?> other) {
            return false;
        }

        @Override
        public int rows() {
            return 1;
        }

        @Override
        public int length() {
            return 1;
        }

        @Override
        public void drop() {
            result.cancel(false);
        }

        /** Runs {@code batch} (this pass first, then compatible ones) and completes every pass's result. */
        abstract void runBatch(List<Work<?>> batch);
    }

    private final class ForwardWork extends Work<PassRunner.Activations> {
        final NDManager scope;
        final int[] tokens;
        final Set<String> sites;
        final boolean clean;

        ForwardWork(Job job, NDManager scope, int[] tokens, Set<String> sites, boolean clean) {
            super(job);
            this.scope = scope;
            this.tokens = tokens;
            this.sites = sites;
            this.clean = clean;
        }

        @Override
        public long bytes(int paddedLength) {
            return forwardRowBytes(paddedLength);
        }

        @Override
        void runBatch(List<Work<?>> batch) {
            if (!clean || config.cacheBytes() == 0) {
                ForwardResult r = model.forward(
                        scope,
                        TokenBatch.of(tokens),
                        Hooks.builder().cache(sites).build());
                result.complete(new PassRunner.Activations(r.activations(), r.logits(), false));
                return;
            }
            CleanCache.Key key = new CleanCache.Key(modelName, tokens, CleanCache.Forward.ACTIVATIONS);
            NDArray[] logits = new NDArray[1];
            Map<String, NDArray> hit = cache.activations(key, sites, scope, logits);
            if (hit != null) {
                result.complete(new PassRunner.Activations(hit, logits[0], true));
                return;
            }
            // Keep every layer's residual stream too: that is what activation patching resumes from.
            Set<String> kept = new LinkedHashSet<>(sites);
            for (int l = 0; l < model.config().nLayers(); l++) {
                kept.add(HookSites.residPre(l));
            }
            ForwardResult r = model.forward(
                    scope, TokenBatch.of(tokens), Hooks.builder().cache(kept).build());
            cache.putActivations(key, r.activations(), r.logits());
            result.complete(new PassRunner.Activations(r.activations(), r.logits(), false));
        }
    }

    private final class RowsWork extends Work<PassRunner.RowResults> {
        final List<PatchRow> rows;

        RowsWork(Job job, List<PatchRow> rows) {
            super(job);
            this.rows = rows;
        }

        @Override
        public boolean mergeable() {
            return true;
        }

        @Override
        public boolean compatible(Work<?> other) {
            return other instanceof RowsWork r
                    && r.rows.get(0).layer() == rows.get(0).layer();
        }

        @Override
        public int rows() {
            return rows.size();
        }

        @Override
        public int length() {
            return rows.stream().mapToInt(r -> r.tokens().length).max().orElse(1);
        }

        @Override
        public long bytes(int paddedLength) {
            return rows.size() * forwardRowBytes(paddedLength);
        }

        @Override
        void runBatch(List<Work<?>> batch) {
            List<PatchRow> all = new ArrayList<>();
            batch.forEach(w -> all.addAll(((RowsWork) w).rows));
            double[] metrics = PatchBatch.run(model, all);
            int from = 0;
            for (Work<?> w : batch) {
                RowsWork r = (RowsWork) w;
                double[] own = java.util.Arrays.copyOfRange(metrics, from, from + r.rows.size());
                from += r.rows.size();
                r.result.complete(new PassRunner.RowResults(own, batch.size() > 1));
            }
        }
    }

    private final class GradientsWork extends Work<GradientEstimates> {
        final GradientWork work;

        GradientsWork(Job job, GradientWork work) {
            super(job);
            this.work = work;
        }

        @Override
        public boolean mergeable() {
            return true;
        }

        @Override
        public boolean compatible(Work<?> other) {
            return other instanceof GradientsWork g && work.compatible(g.work);
        }

        @Override
        public int rows() {
            return work.pairs().size();
        }

        @Override
        public int length() {
            return work.pairs().stream().mapToInt(PromptPair::length).max().orElse(1);
        }

        @Override
        public long bytes(int paddedLength) {
            return work.pairs().size() * gradientRowBytes(paddedLength, work.needsQkFix());
        }

        @Override
        void runBatch(List<Work<?>> batch) {
            // Requests whose clean sides are all cached run apart from the others: in one batch with a miss they
            // would be recomputed (a batch is served from the cache only whole), costing a sweep with clean-prompt
            // affinity the hits it was routed for.
            List<Work<?>> cached =
                    batch.stream().filter(w -> ((GradientsWork) w).allCached()).toList();
            if (!cached.isEmpty() && cached.size() < batch.size()) {
                runTogether(cached);
                runTogether(batch.stream().filter(w -> !cached.contains(w)).toList());
            } else {
                runTogether(batch);
            }
        }

        /** Whether the cache holds the clean side of every pair of this request. */
        private boolean allCached() {
            return cacheable(work.pairs(), work.variant())
                    && keys(work.pairs(), work).stream().allMatch(cache::holdsCleanSide);
        }

        private void runTogether(List<Work<?>> batch) {
            List<PromptPair> pairs = new ArrayList<>();
            List<Integer> sums = new ArrayList<>();
            batch.forEach(w -> {
                pairs.addAll(((GradientsWork) w).work.pairs());
                sums.addAll(((GradientsWork) w).work.sums());
            });
            GradientWork merged = new GradientWork(pairs, work.nodes(), work.variant(), sums);
            GradientEstimates all = withCache(merged);
            int from = 0;
            for (Work<?> w : batch) {
                GradientsWork g = (GradientsWork) w;
                g.result.complete(all.slice(from, g.work.pairs().size(), batch.size() > 1));
                from += g.work.pairs().size();
            }
        }

        /**
         * Serves the clean side of AtP (not GradDrop, which needs the live graph) from the cache when every
         * pair of the batch has one cached, and caches what it computes otherwise.
         */
        private GradientEstimates withCache(GradientWork merged) {
            if (!cacheable(merged.pairs(), merged.variant())) {
                return GradientEstimator.run(model, merged);
            }
            List<CleanCache.Key> keys = keys(merged.pairs(), merged);
            try (NDManager scope = model.compute().newScope()) {
                List<PackedCleanSide> hits = new ArrayList<>();
                for (CleanCache.Key key : keys) {
                    PackedCleanSide hit = cache.cleanSide(key, scope);
                    if (hit == null) {
                        break;
                    }
                    hits.add(hit);
                }
                if (hits.size() == keys.size()) {
                    return GradientEstimator.run(model, merged, hits, null).withCache(GradientEstimates.CacheUse.HIT);
                }
            }
            return GradientEstimator.run(model, merged, null, computed -> {
                        for (int i = 0; i < keys.size(); i++) {
                            cache.putCleanSide(keys.get(i), computed.get(i));
                        }
                    })
                    .withCache(GradientEstimates.CacheUse.MISS);
        }

        /** Whether a batch of these pairs can use the cache: not GradDrop (it needs the live graph), one length. */
        private boolean cacheable(List<PromptPair> pairs, GradientVariant variant) {
            return config.cacheBytes() > 0
                    && !variant.gradDrop()
                    && pairs.stream().mapToInt(PromptPair::length).distinct().count() == 1;
        }

        private List<CleanCache.Key> keys(List<PromptPair> pairs, GradientWork settings) {
            return pairs.stream()
                    .map(p -> new CleanCache.Key(
                            modelName,
                            p.clean(),
                            new CleanCache.AtPCleanSide(
                                    settings.variant(), settings.nodes(), p.metric(), p.metricPosition())))
                    .toList();
        }
    }

    /** Edge estimates for a batch of pairs: one pass of its own, never merged (its settings are per request). */
    private final class EdgeGradientsWork extends Work<EdgeEstimates> {
        final EdgeWork work;

        EdgeGradientsWork(Job job, EdgeWork work) {
            super(job);
            this.work = work;
        }

        @Override
        public int rows() {
            return work.pairs().size();
        }

        @Override
        public int length() {
            return work.pairs().stream().mapToInt(PromptPair::length).max().orElse(1);
        }

        @Override
        public long bytes(int paddedLength) {
            return work.pairs().size() * edgeRowBytes(paddedLength, work.estimate(), work.igSteps());
        }

        @Override
        void runBatch(List<Work<?>> batch) {
            result.complete(EdgeEstimator.run(model, work));
        }
    }

    /** Circuit runs: a forward with edges ablated per row; never merged (each row carries its own values). */
    private final class CircuitWork extends Work<double[]> {
        final List<CircuitBatch.Row> rows;
        final int readers;
        final int writers;

        CircuitWork(Job job, List<CircuitBatch.Row> rows, int readers, int writers) {
            super(job);
            this.rows = rows;
            this.readers = readers;
            this.writers = writers;
        }

        @Override
        public int rows() {
            return rows.size();
        }

        @Override
        public int length() {
            return rows.stream().mapToInt(r -> r.tokens().length).max().orElse(1);
        }

        @Override
        public long bytes(int paddedLength) {
            // A forward row, and each row's ablated writer values and their changes (two [writers, T, d] each).
            return rows.size()
                    * (forwardRowBytes(paddedLength)
                            + 2L
                                    * elementBytes
                                    * writers
                                    * paddedLength
                                    * model.config().dModel());
        }

        @Override
        void runBatch(List<Work<?>> batch) {
            result.complete(CircuitBatch.run(model, rows, readers, writers));
        }
    }

    /** Causal-scrubbing runs: a forward with each row's edges given their own values; never merged. */
    private final class ScrubWork extends Work<ScrubBatch.Output> {
        final NDManager out;
        final List<ScrubBatch.Row> rows;
        final int readers;

        ScrubWork(Job job, NDManager out, List<ScrubBatch.Row> rows, int readers) {
            super(job);
            this.out = out;
            this.rows = rows;
            this.readers = readers;
        }

        @Override
        public int rows() {
            return rows.size();
        }

        @Override
        public int length() {
            return rows.stream().mapToInt(r -> r.tokens().length).max().orElse(1);
        }

        @Override
        public long bytes(int paddedLength) {
            // A forward row, and each row's source values and their changes (two [sources, T, d] each).
            long sources =
                    rows.stream().mapToLong(r -> r.sources().size()).max().orElse(0);
            return rows.size()
                    * (forwardRowBytes(paddedLength)
                            + 2L
                                    * elementBytes
                                    * sources
                                    * paddedLength
                                    * model.config().dModel());
        }

        @Override
        void runBatch(List<Work<?>> batch) {
            result.complete(ScrubBatch.run(model, out, rows, readers));
        }
    }

    /**
     * A generation step: a forward of each row's new tokens (or whole sequence, without a cache) with its
     * interventions. Cached steps of one length merge across requests, each request's rows attending to its own
     * caches, unless a row hooks the attention maps (their key axes differ by cache).
     */
    private final class StepWork extends Work<double[][]> {
        final List<KvCache> caches;
        final List<GenerationStep.Row> rows;

        StepWork(Job job, List<KvCache> caches, List<GenerationStep.Row> rows) {
            super(job);
            this.caches = caches;
            this.rows = rows;
        }

        @Override
        public boolean mergeable() {
            return !caches.isEmpty() && rows.stream().noneMatch(GenerationStep.Row::hooksAttentionMaps);
        }

        @Override
        public boolean compatible(Work<?> other) {
            return other instanceof StepWork s && s.mergeable() && s.length() == length();
        }

        @Override
        public int rows() {
            return rows.size();
        }

        @Override
        public int length() {
            return rows.stream().mapToInt(r -> r.tokens().length).max().orElse(1);
        }

        @Override
        public long bytes(int paddedLength) {
            return rows.size() * forwardRowBytes(paddedLength);
        }

        @Override
        void runBatch(List<Work<?>> batch) {
            List<KvCache> allCaches = new ArrayList<>();
            List<GenerationStep.Row> allRows = new ArrayList<>();
            batch.forEach(w -> {
                allCaches.addAll(((StepWork) w).caches);
                allRows.addAll(((StepWork) w).rows);
            });
            double[][] logits = GenerationStep.run(model, allCaches, allRows);
            int from = 0;
            for (Work<?> w : batch) {
                StepWork step = (StepWork) w;
                step.result.complete(java.util.Arrays.copyOfRange(logits, from, from + step.rows.size()));
                from += step.rows.size();
            }
        }
    }

    /** A job's view of the device: every call queues a pass and waits for it. */
    private final class Runner implements PassRunner {
        private final Job job;

        Runner(Job job) {
            this.job = job;
        }

        @Override
        public HookedTransformer model() {
            return model;
        }

        @Override
        public Activations forward(NDManager scope, int[] tokens, Set<String> sites, boolean clean) {
            return submit(new ForwardWork(job, scope, tokens, sites, clean));
        }

        @Override
        public RowResults patchRows(List<PatchRow> rows) {
            return submit(new RowsWork(job, rows));
        }

        @Override
        public GradientEstimates gradients(GradientWork work) {
            return submit(new GradientsWork(job, work));
        }

        @Override
        public EdgeEstimates edgeGradients(EdgeWork work) {
            return submit(new EdgeGradientsWork(job, work));
        }

        @Override
        public double[] circuitRows(List<CircuitBatch.Row> rows, int readers, int writers) {
            return submit(new CircuitWork(job, rows, readers, writers));
        }

        @Override
        public ScrubBatch.Output scrubRows(NDManager out, List<ScrubBatch.Row> rows, int readers) {
            return submit(new ScrubWork(job, out, rows, readers));
        }

        @Override
        public double[][] nextTokenLogits(List<KvCache> caches, List<GenerationStep.Row> rows) {
            return submit(new StepWork(job, caches, rows));
        }
    }
}
