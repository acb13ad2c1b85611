package dev.patchbay.execution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.passes.CleanSide;
import dev.patchbay.passes.GradientVariant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * What clean prompts cost once, kept for the next request with the same prompt: a clean forward's activations
 * (every layer's residual stream and the logits), and, per metric and node set, the clean side of an AtP pass
 * (activations and metric gradients at the node sites). Keyed by model and token ids, weighed in bytes of
 * native memory. An entry owns its arrays (in its own manager) and frees them when evicted; callers get
 * copies, so an eviction never pulls memory from under a running pass. Only the device thread touches it.
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
    private static final String REFERENCE = "#reference";
    private static final String GRADIENT = "#gradient:";

    /** Arrays (and a metric value, for clean sides) owned by one manager. */
    private record Entry(NDManager manager, Map<String, NDArray> arrays, double metric, long bytes) {
        static Entry of(ComputeContext compute, Map<String, NDArray> arrays, double metric) {
            NDManager manager = compute.newScope();
            Map<String, NDArray> own = new HashMap<>();
            long bytes = 0;
            for (var e : arrays.entrySet()) {
                own.put(e.getKey(), copyInto(e.getValue(), manager));
                bytes += e.getValue().getShape().size()
                        * e.getValue().getDataType().getNumOfBytes();
            }
            return new Entry(manager, own, metric, bytes);
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
        cache.put(key, Entry.of(compute, arrays, 0));
    }

    /** Whether one pair's AtP clean side is cached (a look that counts as neither hit nor miss). */
    boolean holdsCleanSide(Key key) {
        return cache.asMap().containsKey(key);
    }

    /** A copy of one pair's AtP clean side into {@code scope}, or null. */
    CleanSide cleanSide(Key key, NDManager scope) {
        Entry e = cache.getIfPresent(key);
        if (e == null) {
            return null;
        }
        Map<String, NDArray> activations = new HashMap<>();
        Map<String, NDArray> gradients = new HashMap<>();
        e.arrays().forEach((name, a) -> {
            if (name.startsWith(GRADIENT)) {
                gradients.put(name.substring(GRADIENT.length()), copyInto(a, scope));
            } else if (!name.equals(REFERENCE)) {
                activations.put(name, copyInto(a, scope));
            }
        });
        return new CleanSide(
                activations,
                Set.copyOf(gradients.keySet()),
                gradients::get,
                new double[] {e.metric()},
                copyInto(e.arrays().get(REFERENCE), scope));
    }

    void putCleanSide(Key key, CleanSide side) {
        Map<String, NDArray> arrays = new HashMap<>(side.activations());
        side.gradientSites()
                .forEach(s -> arrays.put(GRADIENT + s, side.gradients().apply(s)));
        arrays.put(REFERENCE, side.reference());
        cache.put(key, Entry.of(compute, arrays, side.metrics()[0]));
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
