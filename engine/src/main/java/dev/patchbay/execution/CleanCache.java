package dev.patchbay.execution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.Scoped;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.passes.GradientVariant;
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
public final class CleanCache implements AutoCloseable {
    /** A model, a clean prompt, and what was kept of it. */
    record Key(String model, int[] ids, Kept kept) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.model.equals(model) && Arrays.equals(k.ids, ids) && k.kept.equals(kept);
        }

        @Override
        public int hashCode() {
            return (model.hashCode() * 31 + Arrays.hashCode(ids)) * 31 + kept.hashCode();
        }
    }

    /** What is kept of a clean prompt: its forward's activations, or the clean side of one AtP setting. */
    sealed interface Kept permits Forward, AtPCleanSide {}

    /** Every layer's residual stream, and the logits. */
    enum Forward implements Kept {
        ACTIVATIONS
    }

    /** Activations and metric gradients at the node sites, for one gradient variant, node set and metric. */
    record AtPCleanSide(GradientVariant variant, NodeSet nodes, Metric metric, int metricPosition) implements Kept {}

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

    CleanCache(long maxBytes, ComputeContext compute) {
        this.compute = compute;
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

    /** Copies of a forward's activations at {@code sites} into {@code scope}, or null unless all are cached. */
    Map<String, NDArray> activations(Key key, Set<String> sites, NDManager scope, NDArray[] logitsOut) {
        Entry e = cache.getIfPresent(key);
        if (e == null || !e.arrays().keySet().containsAll(sites)) {
            return null;
        }
        Map<String, NDArray> out = new HashMap<>();
        for (String s : sites) {
            out.put(s, copyInto(e.arrays().get(s), scope));
        }
        logitsOut[0] = copyInto(e.arrays().get(LOGITS), scope);
        return out;
    }

    void putActivations(Key key, Map<String, NDArray> sites, NDArray logits) {
        Map<String, NDArray> arrays = new HashMap<>(sites);
        arrays.put(LOGITS, logits);
        cache.put(key, Entry.of(compute, arrays));
    }

    /** Whether one pair's AtP clean side is cached (a look that counts as neither hit nor miss). */
    boolean holdsCleanSide(Key key) {
        return cache.asMap().containsKey(key);
    }

    /**
     * One pair's AtP clean side, or null: views owned by {@code scope}, which keep the memory alive should the entry
     * be evicted before the pass that reads them ends (a view costs no copy).
     */
    PackedCleanSide cleanSide(Key key, NDManager scope) {
        Entry e = cache.getIfPresent(key);
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
    void putCleanSide(Key key, PackedCleanSide side) {
        NDManager manager = compute.newScope();
        side.parts().forEach(p -> p.attach(manager));
        cache.put(key, new Entry(manager, Map.of(), side, side.bytes()));
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
