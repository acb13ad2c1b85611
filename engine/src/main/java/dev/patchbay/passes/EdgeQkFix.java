package dev.patchbay.passes;

import static dev.patchbay.model.Scalars.times;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.Scoped;
import java.util.List;

/**
 * The QK fix for the edges into one layer's queries and keys (docs/spec/atp-spec.md section 9), for many writers at
 * once. A writer's patched queries (or keys) move every row of its head's scores; each moved row's softmax is
 * recomputed whole in float64, so no probability is formed from another and saturated rows stay exact. The estimate
 * is linear in the pattern gradient g, so the gradients of GradDrop's variants are contracted with the pattern changes
 * in one batched matrix product per chunk of writers: est[v, w] = sum over rows and keys of g_v x (p'_w - p).
 *
 * <p>Per-position key edges move one key column at a time; {@link QkFix}'s per-key form handles those.
 */
final class EdgeQkFix {
    private final NDArray scores;
    private final NDArray pattern;
    private final NDArray raw;
    private final NDArray cleanQ;
    private final NDArray cleanK;
    private final double scale;
    private final double softcap;
    private final int groups;

    /**
     * @param scores the clean scores [B, H, R, T] of R query rows (scaled, soft-capped, masked with -inf): every
     *     table is row-local, so a chunk of rows is fixed alone
     * @param cleanQ,cleanK the rows' queries [B, R, H, d] and all keys [B, T, H_kv, d] as the scores use them
     */
    EdgeQkFix(NDManager scope, NDArray scores, NDArray cleanQ, NDArray cleanK, double scale, double softcap) {
        this.scale = scale;
        this.softcap = softcap;
        this.groups = (int) (cleanQ.getShape().get(2) / cleanK.getShape().get(2));
        this.scores = Scoped.view(scope, scores).toType(DataType.FLOAT64, false);
        this.pattern = this.scores.softmax(-1);
        this.cleanQ = QkFix.perHead(Scoped.view(scope, cleanQ), 1); // [B, H, T, d]
        this.cleanK = QkFix.perHead(Scoped.view(scope, cleanK), groups); // [B, H, T, d]
        this.raw = softcap == 0 ? null : times(this.cleanQ.matMul(this.cleanK.transpose(0, 1, 3, 2)), scale);
    }

    /** The pattern's change [n, B, H, R, T] with each of n writers' patched queries [n * B, R, H, d] (writer-major). */
    NDArray queryChanges(NDArray patchedQ, int n) {
        NDArray q = split(QkFix.perHead(patchedQ, 1), n); // [n, B, H, T, d]
        NDArray change = times(q.sub(cleanQ).matMul(cleanK.transpose(0, 1, 3, 2)), scale);
        return moved(change);
    }

    /** The pattern's change [n, B, H, R, T] with each of n writers' patched keys [n * B, T, H_kv, d] (writer-major). */
    NDArray keyChanges(NDArray patchedK, int n) {
        NDArray k = split(QkFix.perHead(patchedK, groups), n); // [n, B, H, T, d]
        NDArray queries = Scoped.view(patchedK.getManager(), cleanQ); // so that the product is the chunk's
        NDArray change = times(queries.matMul(k.sub(cleanK).transpose(0, 1, 2, 4, 3)), scale);
        return moved(change);
    }

    /**
     * Each variant's estimate, est[v, n, B, H] over all positions, or [v, n, B, T, H] per query position
     * ({@code perQuery}): sum over keys (and rows, over all positions) of g_v x change.
     *
     * @param changes a pattern change [n, B, H, R, T]
     * @param gradients the variants' pattern gradients at the same rows, each [B, H, R, T]
     */
    NDArray estimates(NDArray changes, List<NDArray> gradients, boolean perQuery) {
        Shape s = changes.getShape();
        long n = s.get(0);
        long b = s.get(1);
        long h = s.get(2);
        long t = s.get(3); // query rows (a chunk of them)
        long keys = s.get(4);
        int v = gradients.size();
        // Everything here belongs to the chunk's scope (the changes'): DJL attaches a result to its first operand's
        // manager, and the gradients belong to the pass.
        NDManager chunk = changes.getManager();
        NDList stacked = new NDList();
        gradients.forEach(g -> stacked.add(Scoped.view(chunk, g).toType(DataType.FLOAT64, false)));
        NDArray g = NDArrays.stack(stacked); // [V, B, H, R, T]
        if (perQuery) {
            // Per (pair, head, query row): [V, T_keys] x [T_keys, n].
            NDArray gs = g.reshape(v, b * h * t, keys).transpose(1, 0, 2);
            NDArray cs = changes.reshape(n, b * h * t, keys).transpose(1, 2, 0);
            return gs.matMul(cs) // [B*H*T, V, n]
                    .reshape(b, h, t, v, n)
                    .transpose(3, 4, 0, 2, 1); // [V, n, B, T, H]
        }
        NDArray gs = g.reshape(v, b * h, t * keys).transpose(1, 0, 2);
        NDArray cs = changes.reshape(n, b * h, t * keys).transpose(1, 2, 0);
        return gs.matMul(cs) // [B*H, V, n]
                .reshape(b, h, v, n)
                .transpose(2, 3, 0, 1); // [V, n, B, H]
    }

    /** Query-head estimates [..., H] summed over each key/value head's group: [..., H_kv]. */
    NDArray perKeyValueHead(NDArray perQueryHead) {
        if (groups == 1) {
            return perQueryHead;
        }
        Shape s = perQueryHead.getShape();
        long[] shape = new long[s.dimension() + 1];
        for (int i = 0; i < s.dimension() - 1; i++) {
            shape[i] = s.get(i);
        }
        shape[s.dimension() - 1] = s.get(s.dimension() - 1) / groups;
        shape[s.dimension()] = groups;
        return perQueryHead.reshape(new Shape(shape)).sum(new int[] {-1});
    }

    /**
     * softmax(scores + the capped change) - pattern, each row whole; in the chunk's scope (the change's: the layer's
     * tables must not be the first operand, or every chunk's results would stay until the layer is done).
     */
    private NDArray moved(NDArray rawChange) {
        NDArray change = softcap == 0
                ? rawChange
                : QkFix.scoreChange(Scoped.view(rawChange.getManager(), raw).expandDims(0), rawChange, softcap);
        return change.add(scores.expandDims(0)).softmax(-1).sub(pattern.expandDims(0));
    }

    /** [n * B, H, T, d] (writer-major) to [n, B, H, T, d], in float64. */
    private static NDArray split(NDArray rows, int n) {
        Shape s = rows.getShape();
        return rows.reshape(n, s.get(0) / n, s.get(1), s.get(2), s.get(3));
    }
}
