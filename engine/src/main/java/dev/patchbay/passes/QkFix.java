package dev.patchbay.passes;

import static dev.patchbay.model.Scalars.plus;
import static dev.patchbay.model.Scalars.times;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The QK fix (docs/spec/atp-spec.md section 4; eqs. 6-10): for a query or key node, recompute the attention softmax
 * exactly with the patched query or key, and linearise only the rest of the model, through the clean
 * gradient g = dMetric/dA of the attention pattern. Everything here is in float64: the softmax ratios are
 * computed from exp(-|delta|) so that no term overflows, and a saturated clean probability needs no clamp.
 *
 * <p>One layer is prepared once from the clean and noise runs; the estimates are linear in g, so the L
 * backward variants of GradDrop each cost only an elementwise product.
 */
final class QkFix {
    private final int groups;
    private final NDArray pattern;
    private final NDArray queryDelta;
    private final NDArray keyRatio;
    private final NDArray allKeysDelta;

    /**
     * @param scores the clean run's attention scores [B, H, T, T] (scaled, masked with -inf)
     * @param cleanQ,noiseQ queries as the scores use them (after rotary) [B, T, H, d]
     * @param cleanK,noiseK keys as the scores use them [B, T, H_kv, d]
     * @param scale the layer's multiplier of q.k
     * @param allKeys whether to prepare the estimate for all keys of a head patched at once
     */
    QkFix(
            NDArray scores,
            NDArray cleanQ,
            NDArray noiseQ,
            NDArray cleanK,
            NDArray noiseK,
            double scale,
            boolean allKeys) {
        NDArray a = scores.toType(DataType.FLOAT64, false);
        int heads = (int) cleanQ.getShape().get(2);
        groups = heads / (int) cleanK.getShape().get(2);
        NDArray qc = perHead(cleanQ, 1);
        NDArray kc = perHead(cleanK, groups);
        NDArray dq = perHead(noiseQ, 1).sub(qc);
        NDArray dk = perHead(noiseK, groups).sub(kc);
        pattern = a.softmax(-1);

        // Query t patched: only row t of the scores moves, by (q'_t - q_t).k_s * scale (eqs. 6-7).
        NDArray queryScores = a.add(times(dq.matMul(kc.transpose(0, 1, 3, 2)), scale));
        queryDelta = queryScores.softmax(-1).sub(pattern);

        // Key s patched: column s of every row t >= s moves by delta_ts = q_t.(k'_s - k_s) * scale. With
        // p = A_ts, the row's change dotted with g is p(e^d - 1) / (1 - p + p e^d) * (g_ts - G_t), G_t = sum g A
        // (the spec's closed form, with (p' - p)/(1 - p) multiplied out so no 1/(1 - p) remains).
        NDArray delta = times(qc.matMul(dk.transpose(0, 1, 3, 2)), scale);
        keyRatio = ratio(pattern, delta);
        allKeysDelta = allKeys ? a.add(delta).softmax(-1).sub(pattern) : null;
    }

    /** Query node estimates [B, T, H] under pattern gradient {@code g} [B, H, T, T]. */
    NDArray queries(NDArray g) {
        return g.toType(DataType.FLOAT64, false)
                .mul(queryDelta)
                .sum(new int[] {-1})
                .transpose(0, 2, 1);
    }

    /** Key node estimates [B, T, H_kv]: each key's row changes, summed over the query rows that see it. */
    NDArray keys(NDArray g) {
        NDArray g64 = g.toType(DataType.FLOAT64, false);
        NDArray rowTotal = g64.mul(pattern).sum(new int[] {-1}, true);
        NDArray perQueryHead =
                keyRatio.mul(g64.sub(rowTotal)).sum(new int[] {2}).transpose(0, 2, 1);
        return groupSum(perQueryHead);
    }

    /** Estimates [B, H_kv] for all keys of a key/value head patched at once (a coarse key node). */
    NDArray allKeys(NDArray g) {
        NDArray perQueryHead =
                g.toType(DataType.FLOAT64, false).mul(allKeysDelta).sum(new int[] {2, 3});
        Shape s = perQueryHead.getShape();
        return perQueryHead.reshape(s.get(0), s.get(1) / groups, groups).sum(new int[] {-1});
    }

    /** p(e^d - 1) / (1 - p + p e^d), from e = exp(-|d|) so that neither branch overflows; 0 where p = 0. */
    private static NDArray ratio(NDArray p, NDArray delta) {
        NDArray e = delta.abs().neg().exp();
        NDArray positive = delta.gt(0);
        NDArray oneMinusE = plus(e.neg(), 1);
        NDArray numerator = NDArrays.where(positive, p.mul(oneMinusE), p.mul(oneMinusE.neg()));
        NDArray denominator = NDArrays.where(
                positive, e.add(p.mul(oneMinusE)), plus(p.neg(), 1).add(p.mul(e)));
        NDArray safe = NDArrays.where(denominator.gt(0), denominator, denominator.onesLike());
        return NDArrays.where(p.gt(0).logicalAnd(denominator.gt(0)), numerator.div(safe), p.zerosLike());
    }

    /** [B, T, H, d] to [B, H, T, d] in float64, with key/value heads repeated for their query-head group. */
    private static NDArray perHead(NDArray x, int groups) {
        NDArray h = x.toType(DataType.FLOAT64, false);
        if (groups > 1) {
            Shape s = h.getShape();
            h = h.expandDims(3)
                    .broadcast(new Shape(s.get(0), s.get(1), s.get(2), groups, s.get(3)))
                    .reshape(s.get(0), s.get(1), s.get(2) * groups, s.get(3));
        }
        return h.transpose(0, 2, 1, 3);
    }

    /** Sums per-query-head values [B, T, H] over each key/value head's group: [B, T, H_kv]. */
    private NDArray groupSum(NDArray perQueryHead) {
        if (groups == 1) {
            return perQueryHead;
        }
        Shape s = perQueryHead.getShape();
        return perQueryHead
                .reshape(s.get(0), s.get(1), s.get(2) / groups, groups)
                .sum(new int[] {-1});
    }
}
