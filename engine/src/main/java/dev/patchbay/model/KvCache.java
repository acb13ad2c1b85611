package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * The keys and values (after rotary, per key/value head) of the positions a batch of sequences has already run,
 * per layer, so that a generation step computes only its new positions (issue 18). Every row has the same length:
 * a cache holds sequences that advance together. Several caches of different lengths can run one step together
 * (see {@link HookedTransformer#forwardCached}), each attending to its own.
 *
 * <p>Each layer's keys and values live in one buffer of {@link #capacity} positions, allocated once and written in
 * place, so a generation of n tokens holds O(n) memory and allocates nothing per step for its cache (issue 31: a
 * cache concatenated anew each step, whose old arrays stayed alive through views made from them, held every step's
 * copy: memory grew as n^2). A forward beyond the capacity moves the buffer to one twice as large. What a step
 * reads is a view owned by the step's scope, so nothing of a step stays with the cache. Its arrays live in a scope
 * of their own until {@link #close}.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager scope;
    private final int rows;
    private final NDArray[] keys;
    private final NDArray[] values;
    private int capacity;
    private int length;
    /** Positions the forward now running adds, committed when it completes. */
    private int pending;

    /**
     * An empty cache for {@code rows} sequences of a model of {@code layers} layers, with room for {@code capacity}
     * positions before it grows (see HookedTransformer#newKvCache).
     */
    KvCache(ComputeContext compute, int layers, int rows, int capacity) {
        if (rows < 1) {
            throw new IllegalArgumentException("a KV cache holds at least one sequence, not " + rows);
        }
        this.rows = rows;
        this.capacity = Math.max(1, capacity);
        this.scope = compute.newScope();
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
    }

    /** The sequences it holds: the rows of every step it runs. */
    public int rows() {
        return rows;
    }

    /** Positions cached so far: the next forward's first position. */
    public int length() {
        return length;
    }

    /** Positions its buffers hold before they grow. */
    public int capacity() {
        return capacity;
    }

    /**
     * Writes this forward's keys and values [B, T, H_kv, d_head] of layer {@code layer} after the earlier positions',
     * and gives the layer's keys and values so far [B, past + T, H_kv, d_head] as views owned by {@code step}.
     */
    NDArray[] extend(NDManager step, int layer, NDArray k, NDArray v) {
        int added = (int) k.getShape().get(1);
        pending = added;
        int end = length + added;
        if (keys[layer] == null || end > keys[layer].getShape().get(1)) {
            capacity = Math.max(capacity, end);
            if (keys[layer] != null && end > keys[layer].getShape().get(1)) {
                capacity = Math.max(capacity, 2 * (int) keys[layer].getShape().get(1));
            }
            keys[layer] = grown(keys[layer], k);
            values[layer] = grown(values[layer], v);
        }
        NDIndex newPositions = new NDIndex(":, {}:{}", length, end);
        keys[layer].set(newPositions, k);
        values[layer].set(newPositions, v);
        NDIndex sofar = new NDIndex(":, 0:{}", end);
        return new NDArray[] {
            Scoped.view(step, keys[layer]).get(sofar),
            Scoped.view(step, values[layer]).get(sofar)
        };
    }

    /** A buffer of {@link #capacity} positions shaped as {@code like}, holding {@code old}'s cached positions. */
    private NDArray grown(NDArray old, NDArray like) {
        Shape s = like.getShape();
        NDArray buffer = scope.zeros(new Shape(s.get(0), capacity, s.get(2), s.get(3)), like.getDataType());
        if (old != null) {
            NDIndex cached = new NDIndex(":, 0:{}", length);
            try (NDArray kept = old.get(cached)) {
                buffer.set(cached, kept);
            }
            old.close();
        }
        return buffer;
    }

    /** Arrays its scope holds: its buffers, two per layer run, and nothing of any step (tested). */
    int arraysHeld() {
        return scope.getManagedArrays().size();
    }

    /** Called once a forward has run every layer: its positions are now cached. */
    void commit() {
        length += pending;
        pending = 0;
    }

    @Override
    public void close() {
        scope.close();
    }
}
