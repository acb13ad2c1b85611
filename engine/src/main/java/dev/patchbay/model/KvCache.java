package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * The keys and values (after rotary, per key/value head) of the positions a batch of sequences has already run,
 * per layer, so that a generation step computes only its new positions (issue 18). Every row has the same length:
 * a cache holds sequences that advance together. Several caches of different lengths can run one step together
 * (see {@link HookedTransformer#forwardCached}), each attending to its own. Its arrays live in a scope of its own
 * until {@link #close}.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager scope;
    private final int rows;
    private final NDArray[] keys;
    private final NDArray[] values;
    private int length;
    /** Positions the forward now running adds, committed when it completes. */
    private int pending;

    /** An empty cache for {@code rows} sequences of a model of {@code layers} layers (see HookedTransformer#newKvCache). */
    KvCache(ComputeContext compute, int layers, int rows) {
        if (rows < 1) {
            throw new IllegalArgumentException("a KV cache holds at least one sequence, not " + rows);
        }
        this.rows = rows;
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

    /**
     * Layer {@code layer}'s keys and values [B, past + T, H_kv, d_head] with this forward's [B, T, H_kv, d_head]
     * appended, kept for the next forward.
     */
    NDArray[] extend(int layer, NDArray k, NDArray v) {
        pending = (int) k.getShape().get(1);
        NDArray fullK = keys[layer] == null ? k.duplicate() : keys[layer].concat(k, 1);
        NDArray fullV = values[layer] == null ? v.duplicate() : values[layer].concat(v, 1);
        fullK.attach(scope);
        fullV.attach(scope);
        if (keys[layer] != null) {
            keys[layer].close();
            values[layer].close();
        }
        keys[layer] = fullK;
        values[layer] = fullV;
        return new NDArray[] {fullK, fullV};
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
