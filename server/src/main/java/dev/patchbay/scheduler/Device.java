package dev.patchbay.scheduler;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.attribution.CleanSide;
import dev.patchbay.attribution.GradientEstimates;
import dev.patchbay.attribution.GradientEstimator;
import dev.patchbay.attribution.GradientWork;
import dev.patchbay.attribution.PassRunner;
import dev.patchbay.attribution.PatchBatch;
import dev.patchbay.attribution.PatchRow;
import dev.patchbay.attribution.PromptPair;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.TokenBatch;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One model's compute, on one worker thread (two threads on one model would only fight over its cores; models
 * on different devices differentiate at once, since gradient mode is per thread). Requests run their orchestration on their own threads and submit
 * passes here; the worker serves the jobs round-robin, one pass at a time, so a huge sweep cannot starve a
 * small request, and merges compatible passes of different jobs into one batch: patched runs of the same
 * layer, and AtP-family pair batches with the same settings, up to the row and token limits, after waiting
 * up to the queue delay for them. A job whose client reads slowly is skipped until it is ready again, and a
 * cancelled job's pending passes are dropped.
 */
public final class Device implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Device.class);

    private final String modelName;
    private final HookedTransformer model;
    private final SchedulerConfig config;
    private final CleanCache cache;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<Job> ring = new ArrayList<>();
    private final Map<Job, ArrayDeque<Work<?>>> queues = new HashMap<>();
    private final Thread worker;
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong sharedBatches = new AtomicLong();
    private int next;
    private volatile boolean closed;

    public Device(String modelName, HookedTransformer model, SchedulerConfig config) {
        this.modelName = modelName;
        this.model = model;
        this.config = config;
        this.cache = new CleanCache(config.cacheBytes(), model.compute());
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

    /** Batches run so far, and how many of them carried passes of more than one request. */
    public long batches() {
        return batches.get();
    }

    public long sharedBatches() {
        return sharedBatches.get();
    }

    /**
     * Registers a request. {@code ready} tells whether its client can take more results now; call
     * {@link #wake()} when that changes.
     */
    public Job open(String id, BooleanSupplier ready) {
        Job job = new Job(id, ready);
        lock.lock();
        try {
            ring.add(job);
            queues.put(job, new ArrayDeque<>());
        } finally {
            lock.unlock();
        }
        return job;
    }

    /** Tells the worker that a client became ready. */
    public void wake() {
        lock.lock();
        try {
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** A request's handle: its runner, and its cancellation. */
    public final class Job implements AutoCloseable {
        private final String id;
        private final BooleanSupplier ready;
        private volatile boolean cancelled;

        private Job(String id, BooleanSupplier ready) {
            this.id = id;
            this.ready = ready;
        }

        public String id() {
            return id;
        }

        /** The runner through which this job's method does its compute. */
        public PassRunner runner() {
            return new Runner(this);
        }

        /** Drops the job's pending passes; its thread gets a CancellationException from the runner. */
        public void cancel() {
            cancelled = true;
            lock.lock();
            try {
                ArrayDeque<Work<?>> queue = queues.get(this);
                if (queue != null) {
                    queue.forEach(w -> w.result.cancel(false));
                    queue.clear();
                }
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        public boolean cancelled() {
            return cancelled;
        }

        @Override
        public void close() {
            cancel();
            lock.lock();
            try {
                int index = ring.indexOf(this);
                ring.remove(this);
                queues.remove(this);
                if (index >= 0 && index < next) {
                    next--;
                }
            } finally {
                lock.unlock();
            }
        }
    }

    private <T> T submit(Work<T> work) {
        lock.lock();
        try {
            if (work.job.cancelled || closed) {
                throw new CancellationException("request " + work.job.id + " was cancelled");
            }
            queues.get(work.job).add(work);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
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
            throw new CancellationException("request " + work.job.id + " was cancelled");
        }
    }

    private void work() {
        while (!closed) {
            List<Work<?>> batch;
            lock.lock();
            try {
                Work<?> head = takeNext();
                while (head == null && !closed) {
                    // Wake now and then too: a client's readiness can change without a wake() (it is polled).
                    changed.await(50, TimeUnit.MILLISECONDS);
                    head = takeNext();
                }
                if (closed) {
                    if (head != null) {
                        head.result.cancel(false); // taken off its queue, so close() did not see it
                    }
                    return;
                }
                if (head.mergeable() && ring.size() > 1 && !config.queueDelay().isZero()) {
                    changed.await(config.queueDelay().toNanos(), TimeUnit.NANOSECONDS);
                }
                batch = mergeWith(head);
            } catch (InterruptedException e) {
                return;
            } finally {
                lock.unlock();
            }
            run(batch);
        }
    }

    /** The next job in round-robin order that has a pass and a ready client: its first pass. */
    private Work<?> takeNext() {
        for (int i = 0; i < ring.size(); i++) {
            int index = (next + i) % ring.size();
            Job job = ring.get(index);
            ArrayDeque<Work<?>> queue = queues.get(job);
            if (!queue.isEmpty() && job.ready.getAsBoolean()) {
                next = (index + 1) % ring.size();
                return queue.poll();
            }
        }
        return null;
    }

    /** The head pass and the compatible first passes of the other ready jobs, within the batch limits. */
    private List<Work<?>> mergeWith(Work<?> head) {
        List<Work<?>> batch = new ArrayList<>(List.of(head));
        if (!head.mergeable()) {
            return batch;
        }
        int rows = head.rows();
        int length = head.length();
        for (int i = 0; i < ring.size(); i++) {
            Job job = ring.get((next + i) % ring.size());
            ArrayDeque<Work<?>> queue = queues.get(job);
            Work<?> candidate = queue.peek();
            if (job == head.job || candidate == null || !job.ready.getAsBoolean() || !head.compatible(candidate)) {
                continue;
            }
            int longer = Math.max(length, candidate.length());
            if (rows + candidate.rows() > config.maxBatchRows()
                    || (long) (rows + candidate.rows()) * longer > config.maxBatchTokens()) {
                continue;
            }
            batch.add(queue.poll());
            rows += candidate.rows();
            length = longer;
        }
        return batch;
    }

    private void run(List<Work<?>> batch) {
        batches.incrementAndGet();
        if (batch.size() > 1) {
            sharedBatches.incrementAndGet();
        }
        try {
            batch.get(0).runBatch(batch);
        } catch (RuntimeException | Error e) {
            if (batch.size() == 1) {
                log.warn("pass of request {} failed", batch.get(0).job.id, e);
                batch.get(0).result.completeExceptionally(e);
                return;
            }
            // A failure in a shared batch must fail only the request at fault: run each alone.
            for (Work<?> w : batch) {
                try {
                    w.runBatch(List.of(w));
                } catch (RuntimeException | Error single) {
                    log.warn("pass of request {} failed", w.job.id, single);
                    w.result.completeExceptionally(single);
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        lock.lock();
        try {
            queues.values().forEach(q -> q.forEach(w -> w.result.cancel(false)));
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            worker.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        cache.close();
    }

    // ---- passes ----

    private abstract static class Work<T> {
        final Job job;
        final CompletableFuture<T> result = new CompletableFuture<>();

        Work(Job job) {
            this.job = job;
        }

        boolean mergeable() {
            return false;
        }

        boolean compatible(Work<?> other) {
            return false;
        }

        int rows() {
            return 1;
        }

        int length() {
            return 1;
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
        void runBatch(List<Work<?>> batch) {
            if (!clean || config.cacheBytes() == 0) {
                ForwardResult r = model.forward(scope, TokenBatch.of(tokens), Hooks.builder().cache(sites).build());
                result.complete(new PassRunner.Activations(r.activations(), r.logits(), false));
                return;
            }
            CleanCache.Key key = new CleanCache.Key(modelName, tokens, "");
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
            ForwardResult r = model.forward(scope, TokenBatch.of(tokens), Hooks.builder().cache(kept).build());
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
        boolean mergeable() {
            return true;
        }

        @Override
        boolean compatible(Work<?> other) {
            return other instanceof RowsWork r && r.rows.get(0).layer() == rows.get(0).layer();
        }

        @Override
        int rows() {
            return rows.size();
        }

        @Override
        int length() {
            return rows.stream().mapToInt(r -> r.tokens().length).max().orElse(1);
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
        boolean mergeable() {
            return true;
        }

        @Override
        boolean compatible(Work<?> other) {
            return other instanceof GradientsWork g && work.compatible(g.work);
        }

        @Override
        int rows() {
            return work.pairs().size();
        }

        @Override
        int length() {
            return work.pairs().stream().mapToInt(PromptPair::length).max().orElse(1);
        }

        @Override
        void runBatch(List<Work<?>> batch) {
            List<PromptPair> pairs = new ArrayList<>();
            batch.forEach(w -> pairs.addAll(((GradientsWork) w).work.pairs()));
            GradientWork merged = new GradientWork(pairs, work.nodes(), work.variant());
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
            boolean cacheable = config.cacheBytes() > 0 && !merged.variant().gradDrop()
                    && merged.pairs().stream().mapToInt(PromptPair::length).distinct().count() == 1;
            if (!cacheable) {
                return GradientEstimator.run(model, merged);
            }
            List<CleanCache.Key> keys = merged.pairs().stream().map(p -> new CleanCache.Key(modelName, p.clean(),
                    "atp " + merged.variant() + " " + merged.nodes() + " " + p.metric().describe() + " @" + p.metricPosition()))
                    .toList();
            try (NDManager scope = model.compute().newScope()) {
                List<CleanSide> hits = new ArrayList<>();
                for (CleanCache.Key key : keys) {
                    CleanSide hit = cache.cleanSide(key, scope);
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
            }).withCache(GradientEstimates.CacheUse.MISS);
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
    }
}
