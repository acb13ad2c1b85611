package dev.patchbay.execution;

import dev.patchbay.model.HookedTransformer;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.Pass;
import dev.patchbay.passes.PassContext;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.PassTally;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One model's compute, on one worker thread: two threads on one model would only fight over its cores, while
 * the workers of two models differentiate at the same time (gradient mode is per thread). Requests run their
 * orchestration on their own threads and submit {@link Pass} values here; the {@link BatchQueue} decides the order
 * and the merging (fairness, row, token and memory limits, readiness, cancellation, passes with equal merge keys),
 * and this class runs each batch with the model and its {@link CleanCache}. It knows no pass kind: each pass says
 * how it merges, what it weighs and how it uses the cache.
 */
public final class Device implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Device.class);
    private static final long SLOWDOWN = Long.getLong("patchbay.test.deviceSlowdown", 1);

    private final String modelName;
    private final HookedTransformer model;
    private final SchedulerConfig config;
    /** The memory budget this device's batches share with the other models' devices. */
    private final MemoryPool pool;

    private final CleanCache cache;
    /** What every pass on this device runs with: the model and the clean cache. */
    private final PassContext context;

    private final BatchQueue<QueuedPass<?>> queue;
    private final Thread worker;
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong sharedBatches = new AtomicLong();
    private final AtomicLong passes = new AtomicLong();
    /** Bytes per activation value, read once: planning must not touch the model's arrays. */
    private final int elementBytes;

    /** A device alone: its batches within the config's memory budget, its clean cache beside it. */
    public Device(String modelName, HookedTransformer model, SchedulerConfig config) {
        this(modelName, model, config, MemoryPool.ofPasses(config.memoryBudget()));
    }

    /**
     * A device whose batches share {@code pool} with other models' devices: each is sized to the pool's pass bytes
     * and holds its estimate while it runs.
     */
    public Device(String modelName, HookedTransformer model, SchedulerConfig config, MemoryPool pool) {
        this.modelName = modelName;
        this.model = model;
        this.config = config;
        this.pool = pool;
        this.elementBytes = model.dataType().getNumOfBytes();
        this.cache = new CleanCache(config.cacheBytes(), model.compute());
        this.context = new PassContext(model, cache);
        this.queue = new BatchQueue<>(new BatchQueue.Limits(
                config.maxBatchRows(), config.maxBatchTokens(), config.queueDelay(), pool.passBytes()));
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

    /** The compute precision's name: float32, float64, float16 or bfloat16. */
    public String dtype() {
        return model.dataType().toString().toLowerCase(java.util.Locale.ROOT);
    }

    /** What one batch of this model may hold: the shared budget less the clean caches. */
    public long memoryBudget() {
        return pool.passBytes();
    }

    public MemoryPool pool() {
        return pool;
    }

    /** What fits this model's memory budget: planning's question, answered without the device thread. */
    public Budget budget() {
        return new Budget(model.config(), elementBytes, pool.passBytes());
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

    /**
     * Holds the worker before its next batch until the returned handle is closed: passes queue up meanwhile, and
     * the first batch after merges every compatible one. Tests use it to make sharing and deadlines independent of
     * the hardware's speed; an operator may use it to pause a model.
     */
    public Hold hold() {
        queue.hold();
        AtomicBoolean released = new AtomicBoolean();
        // Closing a handle twice releases its hold once: holds of other callers stay.
        return () -> {
            if (released.compareAndSet(false, true)) {
                queue.release();
            }
        };
    }

    /** A held device's handle: closing it lets the worker run again. */
    @FunctionalInterface
    public interface Hold extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Waits until at least {@code passes} passes are queued, or {@code timeout} passes; returns whether they are.
     * A gate (for tests and tools), not a sleep.
     */
    public boolean awaitQueued(int passes, Duration timeout) throws InterruptedException {
        return queue.awaitQueued(passes, timeout);
    }

    /** Whether every open request has passes queued and a client not reading: nothing can run until one reads. */
    public boolean stalledOnClients() {
        return queue.stalledOnClients();
    }

    /** Tells the worker that a client became ready. */
    public void wake() {
        queue.wake();
    }

    /** A request's handle: its runner, and its cancellation. */
    public final class Job implements AutoCloseable {
        private final BatchQueue<QueuedPass<?>>.Line line;
        private final PassTally tally = new PassTally();

        private Job(BatchQueue<QueuedPass<?>>.Line line) {
            this.line = line;
        }

        public String id() {
            return line.id();
        }

        /** The runner through which this job's method does its compute. */
        public PassRunner runner() {
            return new Runner(this);
        }

        /** What this job's passes did, over all its runners: cache use, shared batches. */
        public PassTally tally() {
            return tally;
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

    /** Queues {@code pass} for {@code job} and waits for its result, counting it in the job's tally. */
    private <T> T submit(Job job, Pass<T> pass) {
        QueuedPass<T> work = new QueuedPass<>(job, pass, model.config(), elementBytes);
        job.line.submit(work);
        try {
            T value = work.result.get();
            if (work.shared) {
                job.tally.shared();
            }
            pass.count(value, job.tally);
            return value;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            job.cancel();
            throw new CancellationException("interrupted");
        } catch (CancellationException e) {
            throw new CancellationException("request " + job.id() + " was cancelled");
        }
    }

    private void work() {
        try {
            for (List<QueuedPass<?>> batch = queue.take(); !batch.isEmpty(); batch = queue.take()) {
                run(batch);
                NativeMemory.batchRan();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void run(List<QueuedPass<?>> batch) {
        batches.incrementAndGet();
        passes.addAndGet(batch.size());
        if (batch.size() > 1) {
            sharedBatches.incrementAndGet();
        }
        try {
            runTogether(batch);
        } catch (RuntimeException | Error e) {
            if (batch.size() == 1) {
                log.warn("pass of request {} failed", batch.get(0).job.id(), e);
                batch.get(0).result.completeExceptionally(e);
                return;
            }
            // A failure in a shared batch must fail only the request at fault: run each alone.
            for (QueuedPass<?> w : batch) {
                try {
                    runTogether(List.of(w));
                } catch (RuntimeException | Error single) {
                    log.warn("pass of request {} failed", w.job.id(), single);
                    w.result.completeExceptionally(single);
                }
            }
        }
    }

    /**
     * Runs one batch of works, all of one pass kind (their merge keys are equal), and completes each with its own
     * result.
     */
    @SuppressWarnings("unchecked") // equal merge keys imply one pass class, so one result type
    private <T> void runTogether(List<QueuedPass<?>> batch) {
        int padded = batch.stream().mapToInt(QueuedPass::length).max().orElse(1);
        long bytes = batch.stream().mapToLong(w -> w.bytes(padded)).sum();
        long held;
        try {
            held = pool.acquire(bytes);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CancellationException("the device stopped while its batch waited for memory");
        }
        long start = System.nanoTime();
        QueuedPass<T> head = (QueuedPass<T>) batch.get(0);
        List<T> results;
        try {
            if (batch.size() == 1) {
                results = List.of(head.pass.run(context));
            } else {
                List<Pass<T>> passes = new ArrayList<>();
                batch.forEach(w -> passes.add(((QueuedPass<T>) w).pass));
                results = head.pass.runMerged(context, passes);
            }
        } finally {
            pool.release(held);
        }
        slowDown(System.nanoTime() - start);
        for (int i = 0; i < batch.size(); i++) {
            QueuedPass<T> w = (QueuedPass<T>) batch.get(i);
            w.shared = batch.size() > 1;
            w.result.complete(results.get(i));
        }
    }

    /**
     * A test hook: with the system property {@code patchbay.test.deviceSlowdown} at k > 1, each batch takes k times
     * as long (the device thread waits (k - 1) times the batch's time before handing back its results), so that the
     * concurrency tests can show they hold on hardware 100 times slower; they must also hold unthrottled, which is
     * what a GPU is to this CPU.
     */
    private static void slowDown(long elapsedNanos) {
        if (SLOWDOWN > 1) {
            try {
                TimeUnit.NANOSECONDS.sleep((SLOWDOWN - 1) * elapsedNanos);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
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

    /** A job's view of the device: every pass queues and waits for its result. */
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
        public <T> T run(Pass<T> pass) {
            return submit(job, pass);
        }

        @Override
        public PassTally tally() {
            return job.tally;
        }

        @Override
        public Retained retain(long bytes, long stepBytes) {
            return pool.reserve(bytes, stepBytes);
        }
    }
}
