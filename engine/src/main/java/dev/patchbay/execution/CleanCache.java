package dev.patchbay.execution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.Scoped;
import dev.patchbay.passes.CleanStore;
import dev.patchbay.passes.ForwardPass;
import dev.patchbay.passes.PackedCleanSide;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * What clean prompts cost once, kept for the next request with the same prompt: a clean forward's activations
 * (every layer's residual stream and the logits), and, per metric and node set, the clean side of an AtP pass
 * (activations and metric gradients at the node sites). Keyed by model and token ids, weighed in bytes of
 * native memory. An entry owns its arrays (in its own manager) and frees them when evicted; callers get copies
 * (a forward's activations) or views (a clean side, which the pass then joins into its batch), owned by their own
 * scope either way, so an eviction never pulls memory from under a running pass. Only the device thread touches it.
 */
public final class CleanCache implements CleanStore, AutoCloseable {
    /**
     * A clean prompt, and what was kept of it: {@link #FORWARD}, or the clean side of one AtP setting. A cache
     * serves one model (its device's), so the model is not part of the key.
     */
    record Key(int[] ids, Object kept) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(k.ids, ids) && k.kept.equals(kept);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ids) * 31 + kept.hashCode();
        }
    }

    /** What is kept of a clean forward: every layer's residual stream and the requested sites, and the logits. */
    static final Object FORWARD = "forward";

    private static final String LOGITS = "#logits";

    /** A forward's arrays, or a packed AtP clean side, owned by one manager. */
    private record Entry(NDManager manager, Map<String, NDArray> arrays, PackedCleanSide packed, long bytes) {
        static Entry of(ComputeContext compute, Map<String, NDArray> arrays) {
            NDManager manager = compute.newScope();
            Map<String, NDArray> own = new HashMap<>();
            long bytes = 0;
            for (var e : arrays.entrySet()) {
                own.put(e.getKey(), copyInto(e.getValue(), manager));
                bytes += e.getValue().getShape().size()
                        * e.getValue().getDataType().getNumOfBytes();
            }
            return new Entry(manager, own, null, bytes);
        }
    }

    private final Cache<Key, Entry> cache;
    private final ComputeContext compute;
    private final long maxBytes;

    CleanCache(long maxBytes, ComputeContext compute) {
        this.compute = compute;
        this.maxBytes = maxBytes;
        cache = Caffeine.newBuilder()
                .maximumWeight(maxBytes)
                .weigher((Key k, Entry e) -> (int) Math.min(Integer.MAX_VALUE, e.bytes()))
                // Evict on the calling (device) thread: native memory is freed at once, by its one user.
                .executor(Runnable::run)
                .removalListener((Key k, Entry e, RemovalCause cause) -> {
                    if (e != null) {
                        e.manager().close();
                    }
                })
                .recordStats()
                .build();
    }

    @Override
    public boolean enabled() {
        return maxBytes > 0;
    }

    @Override
    public ForwardPass.Activations activations(int[] tokens, Set<String> sites, NDManager scope) {
        Entry e = cache.getIfPresent(new Key(tokens, FORWARD));
        if (e == null || !e.arrays().keySet().containsAll(sites)) {
            return null;
        }
        Map<String, NDArray> out = new HashMap<>();
        for (String s : sites) {
            out.put(s, copyInto(e.arrays().get(s), scope));
        }
        return new ForwardPass.Activations(out, copyInto(e.arrays().get(LOGITS), scope), true);
    }

    @Override
    public void putActivations(int[] tokens, Map<String, NDArray> sites, NDArray logits) {
        Map<String, NDArray> arrays = new HashMap<>(sites);
        arrays.put(LOGITS, logits);
        cache.put(new Key(tokens, FORWARD), Entry.of(compute, arrays));
    }

    @Override
    public boolean holdsCleanSide(int[] tokens, AtPSide side) {
        return cache.asMap().containsKey(new Key(tokens, side));
    }

    /**
     * One pair's AtP clean side, or null: views owned by {@code scope}, which keep the memory alive should the entry
     * be evicted before the pass that reads them ends (a view costs no copy).
     */
    @Override
    public PackedCleanSide cleanSide(int[] tokens, AtPSide side, NDManager scope) {
        Entry e = cache.getIfPresent(new Key(tokens, side));
        if (e == null || e.packed() == null) {
            return null;
        }
        PackedCleanSide kept = e.packed();
        return new PackedCleanSide(
                kept.layout(),
                kept.parts().stream().map(p -> Scoped.view(scope, p)).toList(),
                kept.metric());
    }

    /** Keeps one pair's packed AtP clean side; the entry takes over its arrays (no copy). */
    @Override
    public void putCleanSide(int[] tokens, AtPSide side, PackedCleanSide packed) {
        NDManager manager = compute.newScope();
        packed.parts().forEach(p -> p.attach(manager));
        cache.put(new Key(tokens, side), new Entry(manager, Map.of(), packed, packed.bytes()));
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
