package dev.patchbay.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The device's queue with fake tasks: no model, no arrays. */
class BatchQueueTest {
    /** A fake task: a request's name, a kind that decides what merges, rows and a length. */
    record Fake(String owner, String kind, int rows, int length, AtomicBoolean dropped)
            implements BatchQueue.Task<Fake> {
        Fake(String owner, String kind, int rows, int length) {
            this(owner, kind, rows, length, new AtomicBoolean());
        }

        @Override
        public boolean mergeable() {
            return !kind.equals("alone");
        }

        @Override
        public boolean compatible(Fake other) {
            return kind.equals(other.kind);
        }

        @Override
        public void drop() {
            assertTrue(dropped.compareAndSet(false, true), "dropped twice");
        }
    }

    private static BatchQueue<Fake> queue(int maxRows, long maxTokens) {
        return new BatchQueue<>(new BatchQueue.Limits(maxRows, maxTokens, Duration.ZERO));
    }

    /** The queue's next batch, taken on another thread (take blocks until one is ready). */
    private static CompletableFuture<List<Fake>> takeLater(BatchQueue<Fake> queue) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return queue.take();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private static List<String> owners(List<Fake> batch) {
        return batch.stream().map(Fake::owner).toList();
    }

    @Test
    void aSmallRequestIsServedWithinOneTurnOfASweepWithThousandsQueued() throws Exception {
        BatchQueue<Fake> queue = queue(1, 1 << 20);
        BatchQueue<Fake>.Line sweep = queue.open("sweep", () -> true);
        for (int i = 0; i < 5000; i++) {
            sweep.submit(new Fake("sweep", "rows", 1, 8));
        }
        assertEquals(List.of("sweep"), owners(queue.take()));
        BatchQueue<Fake>.Line small = queue.open("small", () -> true);
        small.submit(new Fake("small", "rows", 1, 8));
        small.submit(new Fake("small", "rows", 1, 8));
        // Round-robin: the small request's passes alternate with the sweep's, not after its 4,999.
        List<String> order = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            order.addAll(owners(queue.take()));
        }
        assertTrue(order.subList(0, 2).contains("small"), order.toString());
        for (int i = 1; i < order.size(); i++) {
            assertTrue(!order.get(i).equals(order.get(i - 1)), "turns alternate: " + order);
        }
    }

    @Test
    void compatibleTasksOfOtherRequestsMergeUpToTheRowLimit() throws Exception {
        BatchQueue<Fake> queue = queue(5, 1 << 20);
        for (String owner : List.of("a", "b", "c", "d")) {
            queue.open(owner, () -> true).submit(new Fake(owner, "rows", 2, 8));
        }
        // 2 + 2 rows fit in 5; a third request's 2 would make 6.
        assertEquals(List.of("a", "b"), owners(queue.take()));
        assertEquals(List.of("c", "d"), owners(queue.take()));
    }

    @Test
    void mergingStopsAtTheTokenLimitCountedOnTheLongestRow() throws Exception {
        BatchQueue<Fake> queue = queue(100, 64);
        queue.open("short", () -> true).submit(new Fake("short", "rows", 1, 8));
        queue.open("long", () -> true).submit(new Fake("long", "rows", 1, 40)); // 2 rows x 40 = 80 > 64
        queue.open("mid", () -> true).submit(new Fake("mid", "rows", 2, 16)); // 3 rows x 16 = 48
        assertEquals(List.of("short", "mid"), owners(queue.take()));
        assertEquals(List.of("long"), owners(queue.take()));
    }

    @Test
    void incompatibleOrUnmergeableTasksRunAlone() throws Exception {
        BatchQueue<Fake> queue = queue(100, 1 << 20);
        queue.open("a", () -> true).submit(new Fake("a", "rows", 1, 8));
        queue.open("b", () -> true).submit(new Fake("b", "pairs", 1, 8));
        queue.open("c", () -> true).submit(new Fake("c", "alone", 1, 8));
        queue.open("d", () -> true).submit(new Fake("d", "rows", 1, 8));
        assertEquals(List.of("a", "d"), owners(queue.take()));
        assertEquals(List.of("b"), owners(queue.take()));
        assertEquals(List.of("c"), owners(queue.take()));
    }

    @Test
    void aRequestThatStopsReadingIsSkippedUntilItIsReadyAgain() throws Exception {
        BatchQueue<Fake> queue = queue(100, 1 << 20);
        AtomicBoolean reading = new AtomicBoolean(false);
        BatchQueue<Fake>.Line slow = queue.open("slow", reading::get);
        for (int i = 0; i < 3; i++) {
            slow.submit(new Fake("slow", "rows", 1, 8));
        }
        BatchQueue<Fake>.Line other = queue.open("other", () -> true);
        for (int i = 0; i < 3; i++) {
            other.submit(new Fake("other", "rows", 1, 8));
        }
        for (int i = 0; i < 3; i++) {
            assertEquals(List.of("other"), owners(queue.take()), "a stalled client's tasks neither run nor merge");
        }
        CompletableFuture<List<Fake>> waiting = takeLater(queue);
        Thread.sleep(100); // the taker is blocked: nothing is ready
        assertTrue(!waiting.isDone());
        reading.set(true);
        queue.wake();
        assertEquals(List.of("slow"), owners(waiting.get(5, TimeUnit.SECONDS)));
    }

    @Test
    void cancellingDropsQueuedTasksAndRefusesNewOnes() throws Exception {
        BatchQueue<Fake> queue = queue(100, 1 << 20);
        BatchQueue<Fake>.Line cancelled = queue.open("cancelled", () -> true);
        List<Fake> tasks = List.of(new Fake("cancelled", "rows", 1, 8), new Fake("cancelled", "rows", 1, 8));
        tasks.forEach(cancelled::submit);
        queue.open("kept", () -> true).submit(new Fake("kept", "rows", 1, 8));
        cancelled.cancel();
        assertTrue(tasks.stream().allMatch(t -> t.dropped().get()));
        assertThrows(CancellationException.class, () -> cancelled.submit(new Fake("cancelled", "rows", 1, 8)));
        assertEquals(List.of("kept"), owners(queue.take()));
    }

    @Test
    void tasksOfARequestPastItsDeadlineAreDropped() throws Exception {
        AtomicLong now = new AtomicLong(0);
        BatchQueue<Fake> queue = new BatchQueue<>(new BatchQueue.Limits(100, 1 << 20, Duration.ZERO), now::get);
        BatchQueue<Fake>.Line late = queue.open("late", () -> true, 1_000);
        Fake first = new Fake("late", "alone", 1, 8);
        Fake second = new Fake("late", "alone", 1, 8);
        late.submit(first);
        late.submit(second);
        queue.open("other", () -> true).submit(new Fake("other", "alone", 1, 8));
        assertEquals(List.of("late"), owners(queue.take()));
        now.set(1_000);
        assertEquals(List.of("other"), owners(queue.take()));
        assertTrue(second.dropped().get() && !first.dropped().get());
        assertTrue(late.cancelled());
    }

    @Test
    void closingDropsEverythingAndEndsTheTaker() throws Exception {
        BatchQueue<Fake> queue = queue(100, 1 << 20);
        BatchQueue<Fake>.Line line = queue.open("a", () -> false);
        Fake task = new Fake("a", "rows", 1, 8);
        line.submit(task);
        CompletableFuture<List<Fake>> waiting = takeLater(queue);
        queue.close();
        assertEquals(List.of(), waiting.get(5, TimeUnit.SECONDS));
        assertTrue(task.dropped().get());
        assertThrows(CancellationException.class, () -> line.submit(new Fake("a", "rows", 1, 8)));
    }

    @Test
    void theQueueDelayWaitsForAnotherRequestsTaskToMerge() throws Exception {
        BatchQueue<Fake> queue = new BatchQueue<>(new BatchQueue.Limits(100, 1 << 20, Duration.ofSeconds(10)));
        queue.open("a", () -> true).submit(new Fake("a", "rows", 1, 8));
        BatchQueue<Fake>.Line b = queue.open("b", () -> true);
        CompletableFuture<List<Fake>> waiting = takeLater(queue);
        Thread.sleep(100);
        b.submit(new Fake("b", "rows", 1, 8)); // arrives during the delay, and its signal ends the wait
        assertEquals(List.of("a", "b"), owners(waiting.get(5, TimeUnit.SECONDS)));
    }

    /**
     * Many concurrent requests whose next tasks arrive one after another (generation steps): the batch waits for
     * all of them, not only the first to arrive, but not for a request whose client is not reading.
     */
    @Test
    void theQueueDelayWaitsForEveryOtherReadyRequestNotOnlyTheFirst() throws Exception {
        BatchQueue<Fake> queue = new BatchQueue<>(new BatchQueue.Limits(100, 1 << 20, Duration.ofSeconds(10)));
        queue.open("a", () -> true).submit(new Fake("a", "rows", 1, 8));
        BatchQueue<Fake>.Line b = queue.open("b", () -> true);
        BatchQueue<Fake>.Line c = queue.open("c", () -> true);
        queue.open("not reading", () -> false);
        long start = System.nanoTime();
        CompletableFuture<List<Fake>> waiting = takeLater(queue);
        Thread.sleep(100);
        b.submit(new Fake("b", "rows", 1, 8));
        Thread.sleep(200);
        assertTrue(!waiting.isDone(), "c may still submit: the batch waits for it");
        c.submit(new Fake("c", "rows", 1, 8));
        assertEquals(List.of("a", "b", "c"), owners(waiting.get(5, TimeUnit.SECONDS)));
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "it did not wait out the delay");
    }

    /**
     * A held queue takes nothing; tasks queue up, and the first batch after the last hold is released merges every
     * compatible one: merging made independent of timing. The gates are exact: {@code awaitQueued} returns once the
     * tasks are queued (and false at its timeout otherwise), {@code stalledOnClients} once every open line waits for
     * a client.
     */
    @Test
    void aHeldQueueTakesNothingAndMergesWhatQueuedOnceReleased() throws Exception {
        BatchQueue<Fake> queue = queue(100, 1 << 20);
        queue.hold();
        queue.hold();
        CompletableFuture<List<Fake>> waiting = takeLater(queue);
        for (String owner : List.of("a", "b", "c")) {
            queue.open(owner, () -> true).submit(new Fake(owner, "rows", 1, 8));
        }
        assertTrue(queue.awaitQueued(3, Duration.ofMinutes(1)));
        assertFalse(queue.awaitQueued(4, Duration.ofMillis(1)), "a fourth task never came");
        queue.release();
        assertTrue(queue.awaitQueued(3, Duration.ofMillis(1)), "one hold is still held: nothing was taken");
        assertFalse(waiting.isDone());
        queue.release();
        assertEquals(List.of("a", "b", "c"), owners(waiting.get(1, TimeUnit.MINUTES)));
    }

    @Test
    void aQueueIsStalledOnClientsWhenEveryOpenLineWaitsForItsReader() throws Exception {
        BatchQueue<Fake> queue = queue(100, 1 << 20);
        AtomicBoolean reading = new AtomicBoolean(false);
        assertFalse(queue.stalledOnClients(), "no line, nothing to wait for");
        BatchQueue<Fake>.Line slow = queue.open("slow", reading::get);
        assertFalse(queue.stalledOnClients(), "an empty line is not stalled");
        slow.submit(new Fake("slow", "rows", 1, 8));
        assertTrue(queue.stalledOnClients());
        reading.set(true);
        assertFalse(queue.stalledOnClients());
    }
}
