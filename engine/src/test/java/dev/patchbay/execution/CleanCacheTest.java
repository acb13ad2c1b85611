package dev.patchbay.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.ComputeContext;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CleanCacheTest {
    @Test
    void staysWithinItsBytesAndEvictedEntriesAreGone() {
        long entryBytes = 4 * 1000 + 4 * 100; // one site of 1000 floats and 100 logits
        try (CleanCache cache = new CleanCache(3 * entryBytes, ComputeContext.cpu());
                NDManager scope = NDManager.newBaseManager("PyTorch")) {
            for (int i = 0; i < 10; i++) {
                NDArray site = scope.ones(new Shape(1, 1000), DataType.FLOAT32).mul(i);
                cache.putActivations(
                        new int[] {i}, Map.of("s", site), scope.zeros(new Shape(1, 100), DataType.FLOAT32));
            }
            assertTrue(cache.weightedBytes() <= 3 * entryBytes, "weighed " + cache.weightedBytes());
            assertTrue(cache.entries() <= 3);
            // Caffeine's admission policy decides which entries stay; every one that stays is intact.
            int present = 0;
            int kept = -1;
            for (int i = 0; i < 10; i++) {
                var hit = cache.activations(new int[] {i}, Set.of("s"), scope);
                if (hit != null) {
                    assertTrue(hit.fromCache());
                    assertEquals((float) i, hit.sites().get("s").getFloat(0, 0));
                    present++;
                    kept = i;
                }
            }
            assertTrue(present >= 1 && present <= 3, present + " entries present");
            var hit = cache.activations(new int[] {kept}, Set.of("s"), scope);
            assertNotNull(hit);
            assertEquals(new Shape(1, 100), hit.logits().getShape());
            assertNull(
                    cache.activations(new int[] {kept}, Set.of("s", "other"), scope),
                    "an entry without every asked-for site is a miss");
        }
    }
}
