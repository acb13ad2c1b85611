package dev.patchbay.execution;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * The queue in front of one device: each request has its own line of tasks; the device takes them round-robin,
 * one task a turn, so a sweep of thousands of passes cannot starve a small request; a task that can share a
 * batch is merged with the first tasks of the other ready requests that fit the row and token limits, after
 * waiting up to the queue delay for them (as Triton's dynamic batcher does). A request whose client is not
 * reading is skipped until it is ready again, so results never pile up in memory; a cancelled request's
 * tasks, and those of a request past its deadline, are dropped.
 *
 * <p>Plain Java: it knows nothing of models or arrays, so its fairness and limits are tested with fake tasks.
 *
 * @param <T> the tasks: what a device runs, and what it may merge
 */
public final class BatchQueue<T extends BatchQueue.Task<T>> {
    /** One unit of work, from one request. */
    public interface Task<T> {
        /** Whether this task may share a batch with other requests' tasks. */
        boolean mergeable();

        /** Whether {@code other} (of another request) can run in one batch with this one. */
        boolean compatible(T other);

        /** Batch rows this task takes. */
        int rows();

        /** Its longest row, in tokens (a batch is padded to its longest row). */
        int length();

        /** Native bytes its rows hold at the peak of a batch padded to {@code paddedLength} tokens. */
        default long bytes(int paddedLength) {
            return 0;
        }

        /** Called once when the task is dropped without running (cancelled, past its deadline, or closed). */
        void drop();
    }

    /**
     * How batches are formed.
     *
     * @param maxRows rows in one batch
     * @param maxTokens rows times padded length in one batch
     * @param delay how long to wait for other requests' compatible tasks before running a batch that is not full
     * @param maxBytes native bytes one batch may hold (see {@link Task#bytes}); a task over it alone still runs
     *     alone, since its request was sized to the budget when it was planned
     */
    public record Limits(int maxRows, long maxTokens, Duration delay, long maxBytes) {
        public Limits {
            if (maxRows < 1 || maxTokens < 1 || delay.isNegative() || maxBytes < 1) {
                throw new IllegalArgumentException("batch limits must be positive and the queue delay not negative");
            }
        }

        /** Without a memory limit. */
        public Limits(int maxRows, long maxTokens, Duration delay) {
            this(maxRows, maxTokens, delay, Long.MAX_VALUE);
        }
    }

    private final Limits limits;
    private final LongSupplier clock;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<Line> ring = new ArrayList<>();
    private final Map<Line, ArrayDeque<T>> lines = new HashMap<>();
    private int next;
    private boolean closed;
    /** Holds not yet released: while any is, no batch is taken and tasks queue up (see {@link #hold()}). */
    private int holds;

    public BatchQueue(Limits limits) {
        this(limits, System::nanoTime);
    }

    /** With a clock in nanoseconds, for deadlines. */
    BatchQueue(Limits limits, LongSupplier clock) {
        this.limits = limits;
        this.clock = clock;
    }

    /**
     * A request's line. {@code ready} says whether its client can take more results now (call {@link #wake()}
     * when it becomes ready); its tasks are dropped once {@code clock} passes {@code deadlineNanos}
     * ({@link Long#MAX_VALUE} for none).
     */
    public Line open(String id, BooleanSupplier ready, long deadlineNanos) {
        Line line = new Line(id, ready, deadlineNanos);
        lock.lock();
        try {
            ring.add(line);
            lines.put(line, new ArrayDeque<>());
        } finally {
            lock.unlock();
        }
        return line;
    }

    /** A line with no deadline. */
    public Line open(String id, BooleanSupplier ready) {
        return open(id, ready, Long.MAX_VALUE);
    }

    /** Lines opened and not yet closed: requests in progress. */
    public int openLines() {
        lock.lock();
        try {
            return ring.size();
        } finally {
            lock.unlock();
        }
    }

    /** Tells the queue that a client may have become ready. */
    public void wake() {
        lock.lock();
        try {
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Stops batches from being taken until {@link #release()}: tasks queue up, and a batch taken after the release
     * merges every compatible task queued by then. What makes merging deterministic where timing cannot (tests that
     * must see requests share a batch on hardware of any speed), and a way for an operator to pause a device.
     */
    public void hold() {
        lock.lock();
        try {
            holds++;
        } finally {
            lock.unlock();
        }
    }

    /** Releases one hold; batches are taken again once every hold is released. */
    public void release() {
        lock.lock();
        try {
            holds = Math.max(0, holds - 1);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until at least {@code tasks} tasks are queued (over all lines), or {@code timeout} passes; returns
     * whether they are. A gate for tests and tools that must know work is waiting, instead of a sleep.
     */
    public boolean awaitQueued(int tasks, Duration timeout) throws InterruptedException {
        long left = timeout.toNanos();
        lock.lock();
        try {
            while (queued() < tasks) {
                if (left <= 0) {
                    return false;
                }
                left = changed.awaitNanos(left);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether every open line has tasks queued and a client not ready to take results: nothing can run until a
     * client reads. What a test of backpressure waits for, instead of a time without progress.
     */
    public boolean stalledOnClients() {
        lock.lock();
        try {
            return !ring.isEmpty() && ring.stream().allMatch(l -> !lines.get(l).isEmpty() && !l.ready.getAsBoolean());
        } finally {
            lock.unlock();
        }
    }

    private int queued() {
        return lines.values().stream().mapToInt(ArrayDeque::size).sum();
    }

    /** One request's tasks, in the order it submitted them. */
    public final class Line implements AutoCloseable {
        private final String id;
        private final BooleanSupplier ready;
        private final long deadlineNanos;
        private volatile boolean cancelled;

        private Line(String id, BooleanSupplier ready, long deadlineNanos) {
            this.id = id;
            this.ready = ready;
            this.deadlineNanos = deadlineNanos;
        }

        public String id() {
            return id;
        }

        /** Queues a task; refused once the line is cancelled or the queue closed. */
        public void submit(T task) {
            lock.lock();
            try {
                if (cancelled || closed) {
                    throw new CancellationException("request " + id + " was cancelled");
                }
                ArrayDeque<T> line = lines.get(this);
                if (line == null) {
                    throw new IllegalStateException("request " + id + " is closed");
                }
                line.add(task);
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        /** Drops the pending tasks and refuses new ones. */
        public void cancel() {
            cancelled = true;
            lock.lock();
            try {
                dropAll(lines.get(this));
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        public boolean cancelled() {
            return cancelled;
        }

        /** Cancels, and leaves the ring. */
        @Override
        public void close() {
            cancel();
            lock.lock();
            try {
                int index = ring.indexOf(this);
                ring.remove(this);
                lines.remove(this);
                if (index >= 0 && index < next) {
                    next--;
                }
            } finally {
                lock.unlock();
            }
        }

        private boolean expired(long now) {
            return deadlineNanos != Long.MAX_VALUE && now - deadlineNanos >= 0;
        }
    }

    /**
     * Waits for the next batch: the first task of the next ready line in round-robin order, then the compatible
     * first tasks of the other ready lines that fit the limits. Returns an empty list once the queue is closed.
     */
    public List<T> take() throws InterruptedException {
        lock.lock();
        try {
            Line served = holds > 0 ? null : nextLine();
            while (served == null && !closed) {
                // Wake now and then too: a client's readiness can change without a wake() (it is polled).
                changed.await(50, TimeUnit.MILLISECONDS);
                served = holds > 0 ? null : nextLine();
            }
            T head = served == null ? null : lines.get(served).poll();
            if (closed) {
                if (head != null) {
                    head.drop(); // taken off its line, so close() did not see it
                }
                return List.of();
            }
            if (head.mergeable() && ring.size() > 1 && !limits.delay().isZero()) {
                awaitCompany(served);
            }
            return mergeWith(head, served);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits up to the queue delay for the other lines' next tasks, and no longer than until every other line that
     * could still add one to this batch (open, not cancelled, its client ready) has one queued: waking on the first
     * arrival only would split the steps of many concurrent requests into a batch of one or two and a batch of the
     * rest.
     */
    private void awaitCompany(Line served) throws InterruptedException {
        long left = limits.delay().toNanos();
        while (left > 0 && !closed && someLineMayStillSubmit(served)) {
            left = changed.awaitNanos(left);
        }
    }

    private boolean someLineMayStillSubmit(Line served) {
        for (Line line : ring) {
            if (line != served && !line.cancelled && lines.get(line).isEmpty() && line.ready.getAsBoolean()) {
                return true;
            }
        }
        return false;
    }

    /** Drops every pending task; {@link #take()} then returns an empty batch. */
    public void close() {
        lock.lock();
        try {
            closed = true;
            lines.values().forEach(this::dropAll);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The next line in round-robin order that has a task and a ready client. */
    private Line nextLine() {
        expireLines();
        for (int i = 0; i < ring.size(); i++) {
            int index = (next + i) % ring.size();
            Line line = ring.get(index);
            ArrayDeque<T> tasks = lines.get(line);
            if (!tasks.isEmpty() && line.ready.getAsBoolean()) {
                next = (index + 1) % ring.size();
                return line;
            }
        }
        return null;
    }

    private void expireLines() {
        long now = clock.getAsLong();
        for (Line line : ring) {
            if (line.expired(now) && !line.cancelled) {
                line.cancelled = true;
                dropAll(lines.get(line));
            }
        }
    }

    /** The head task and the compatible first tasks of the other ready lines, within the limits. */
    private List<T> mergeWith(T head, Line headLine) {
        List<T> batch = new ArrayList<>(List.of(head));
        if (!head.mergeable()) {
            return batch;
        }
        int rows = head.rows();
        int length = head.length();
        for (int i = 0; i < ring.size(); i++) {
            Line line = ring.get((next + i) % ring.size());
            T candidate = lines.get(line).peek();
            if (line == headLine || candidate == null || !line.ready.getAsBoolean() || !head.compatible(candidate)) {
                continue;
            }
            int longer = Math.max(length, candidate.length());
            if (rows + candidate.rows() > limits.maxRows()
                    || (long) (rows + candidate.rows()) * longer > limits.maxTokens()
                    || bytes(batch, candidate, longer) > limits.maxBytes()) {
                continue;
            }
            batch.add(lines.get(line).poll());
            rows += candidate.rows();
            length = longer;
        }
        return batch;
    }

    /** The bytes of {@code batch} plus {@code candidate}, all padded to {@code length}. */
    private static <T extends Task<T>> long bytes(List<T> batch, T candidate, int length) {
        long total = candidate.bytes(length);
        for (T t : batch) {
            total = total > Long.MAX_VALUE - t.bytes(length) ? Long.MAX_VALUE : total + t.bytes(length);
        }
        return total;
    }

    private void dropAll(ArrayDeque<T> tasks) {
        if (tasks != null) {
            tasks.forEach(Task::drop);
            tasks.clear();
        }
    }
}
