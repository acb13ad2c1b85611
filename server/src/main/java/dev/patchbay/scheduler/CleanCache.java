package dev.patchbay.scheduler;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Clean-prompt activations, keyed by model and token ids, weighed in bytes of native memory. An entry owns its
 * arrays (in its own manager) and frees them when it is evicted; callers get copies, so an eviction can never
 * pull memory from under a running pass. Only the device thread touches it.
 */
public final class CleanCache implements AutoCloseable {
    /** The key: a model and a clean prompt. */
    record Key(String model, int[] ids) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.model.equals(model) && Arrays.equals(k.ids, ids);
        }

        @Override
        public int hashCode() {
            return model.hashCode() * 31 + Arrays.hashCode(ids);
        }
    }

    /** The activations of one clean forward pass. */
    static final class Entry {
        final NDManager manager;
        final Map<String, NDArray> sites;
        final NDArray logits;
        final long bytes;

        Entry(NDManager manager, Map<String, NDArray> sites, NDArray logits) {
            this.manager = manager;
            this.sites = sites;
            this.logits = logits;
            long b = logits.getShape().size() * logits.getDataType().getNumOfBytes();
            for (NDArray a : sites.values()) {
                b += a.getShape().size() * a.getDataType().getNumOfBytes();
            }
            this.bytes = b;
        }

        boolean has(Set<String> wanted) {
            return sites.keySet().containsAll(wanted);
        }
    }

    private final Cache<Key, Entry> cache;

    CleanCache(long maxBytes) {
        cache = Caffeine.newBuilder()
                .maximumWeight(maxBytes)
                .weigher((Key k, Entry e) -> (int) Math.min(Integer.MAX_VALUE, e.bytes))
                // Run evictions on the calling (device) thread: native memory is freed at once, by the one
                // thread that uses it.
                .executor(Runnable::run)
                .removalListener((Key k, Entry e, RemovalCause cause) -> {
                    if (e != null) {
                        e.manager.close();
                    }
                })
                .recordStats()
                .build();
    }

    /** Copies of the entry's arrays into {@code scope}, or null when the prompt or a site is not cached. */
    Map<String, NDArray> copy(Key key, Set<String> sites, NDManager scope, NDArray[] logitsOut) {
        Entry e = cache.getIfPresent(key);
        if (e == null || !e.has(sites)) {
            return null;
        }
        Map<String, NDArray> out = new HashMap<>();
        for (String s : sites) {
            out.put(s, copyInto(e.sites.get(s), scope));
        }
        logitsOut[0] = copyInto(e.logits, scope);
        return out;
    }

    /** Stores copies of a clean pass's arrays (replacing an entry with fewer sites). */
    void put(Key key, Map<String, NDArray> sites, NDArray logits) {
        NDManager manager = NDManager.newBaseManager("PyTorch");
        Map<String, NDArray> own = new HashMap<>();
        sites.forEach((s, a) -> own.put(s, copyInto(a, manager)));
        cache.put(key, new Entry(manager, own, copyInto(logits, manager)));
    }

    private static NDArray copyInto(NDArray a, NDManager manager) {
        NDArray copy = a.duplicate();
        copy.attach(manager);
        return copy;
    }

    public CacheStats stats() {
        return cache.stats();
    }

    public long weightedBytes() {
        return cache.policy().eviction().map(e -> e.weightedSize().orElse(0)).orElse(0L);
    }

    public long entries() {
        return cache.estimatedSize();
    }

    @Override
    public void close() {
        cache.invalidateAll();
        cache.cleanUp();
    }
}
