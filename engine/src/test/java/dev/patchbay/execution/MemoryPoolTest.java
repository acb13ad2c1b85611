package dev.patchbay.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.passes.PassRunner;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * One memory budget for the process: two models each got half of physical memory before, and what was kept
 * between batches was not counted. Batches of different devices wait for each other's bytes; KV caches are
 * reserved from their own share and refused at once where it is full. Gates, not sleeps: a waiting batch is seen
 * waiting by the thread's state.
 */
class MemoryPoolTest {
    private static final long GB = 1_000_000_000L;

    @Test
    void theBudgetIsSplitIntoCachesKeptAndPasses() {
        MemoryPool pool = new MemoryPool(16 * GB, 2 * GB);
        assertEquals(GB, pool.keptBytes());
        assertEquals(13 * GB, pool.passBytes());
        IllegalArgumentException none =
                assertThrows(IllegalArgumentException.class, () -> new MemoryPool(2 * GB, 2 * GB));
        assertTrue(none.getMessage().contains("--memory-budget"), none.getMessage());
        assertEquals(5 * GB, MemoryPool.ofPasses(5 * GB).passBytes());
    }

    @Test
    void aBatchWaitsUntilTheRunningOnesLeaveItRoom() throws Exception {
        MemoryPool pool = new MemoryPool(16 * GB, 0);
        long first = pool.acquire(10 * GB);
        Thread[] waiter = new Thread[1];
        CompletableFuture<Long> second = CompletableFuture.supplyAsync(() -> {
            waiter[0] = Thread.currentThread();
            try {
                return pool.acquire(8 * GB);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        // The second batch is parked in wait() while the first holds its bytes.
        while (waiter[0] == null || waiter[0].getState() != Thread.State.WAITING) {
            Thread.onSpinWait();
        }
        assertFalse(second.isDone(), "10 + 8 GB exceed the 15 GB for passes");
        pool.release(first);
        assertEquals(8 * GB, second.get(30, TimeUnit.SECONDS));
        // Small batches run side by side.
        long small = pool.acquire(GB);
        pool.release(small);
        pool.release(8 * GB);
        // A batch larger than the pass bytes alone runs (planning keeps them within it) and holds them all.
        assertEquals(pool.passBytes(), pool.acquire(100 * GB));
    }

    @Test
    void keptMemoryIsReservedFromItsShareAndRefusedAtOnceWhenFull() {
        MemoryPool pool = new MemoryPool(16 * GB, 0);
        PassRunner.Retained a = pool.reserve(600_000_000L, GB);
        PassRunner.RetainedMemoryRefused refused =
                assertThrows(PassRunner.RetainedMemoryRefused.class, () -> pool.reserve(600_000_000L, GB));
        assertTrue(refused.getMessage().contains("other requests keep now"), refused.getMessage());
        a.close();
        a.close(); // closing twice gives back once
        assertEquals(0, pool.reservedBytes());
        try (PassRunner.Retained b = pool.reserve(600_000_000L, GB)) {
            assertEquals(600_000_000L, pool.reservedBytes());
        }
        assertEquals(0, pool.reservedBytes());
    }
}
