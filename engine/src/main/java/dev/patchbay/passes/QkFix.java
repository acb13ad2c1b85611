package dev.patchbay.passes;

import static dev.patchbay.model.Scalars.plus;
import static dev.patchbay.model.Scalars.times;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.Scoped;

/**
 * The QK fix (docs/spec/atp-spec.md section 4; eqs. 6-10): for a query or key node, recompute the attention softmax
 * exactly with the patched query or key, and linearise only the rest of the model, through the clean
 * gradient g = dMetric/dA of the attention pattern. Everything here is in float64. Sliding windows need nothing
 * of their own: a key outside a query's window is -inf in the clean scores and stays so. Soft-capped scores move
 * by the capped difference (see {@link #scoreChange}).
 *
 * <p>A patched key s moves one column of each row t: a_ts becomes a_ts + delta_ts. The row's change is then
 * exact from two numbers, both kept in log space relative to the row's clean log-sum-exp: log p_ts, and
 * log(1 - p_ts), the weight of the row's other keys. The second is where saturation bites: when one key holds
 * nearly all of a row (a score gap above about 37), p rounds to exactly 1 and 1 - p to 0, yet a patch that
 * lowers that key hands the row to the others. So log(1 - p) of a row's dominant key (the one key with
 * p > 1/2) is the log-sum-exp of the other keys' log-probabilities, never computed from p; for every other key
 * 1 - p >= 1/2 and log(1 - p) is exact. Likewise the others' share of the gradient, sum over j != s of g_tj A_tj,
 * is summed directly for the dominant key instead of as G_t - g_ts A_ts, which cancels there, and as shares of
 * the rest, p_j / (1 - p_s): the others' probabilities may underflow to 0 (a gap above about 745) while the
 * patched row, whose total can be e^-700 of the clean one, hands them nearly all of it.
 *
 * <p>One layer is prepared once from the clean and noise runs; the estimates are linear in g, so the L
 * backward variants of GradDrop each cost only elementwise products.
 */
final class QkFix {
    private final int groups;
    private final NDArray pattern;
    private final NDArray queryDelta;
    /** Where a key holds more than half of its row (at most one key per row). */
    private final NDArray dominant;
    /** The patched key's own probability change, p'_ts - p_ts. */
    private final NDArray keySelf;
    /** Each key's share of the rest of a row that has a dominant key (0 for the dominant key itself). */
    private final NDArray restShare;
    /**
     * Every other key's relative change p'_tj / p_tj - 1, the same for all j != s of row t; for a row's dominant
     * key s, times the rest of the row (see restShare).
     */
    private final NDArray keyOthers;

    private final NDArray allKeysDelta;

    /**
     * @param scores the clean run's attention scores [B, H, T, T] (scaled, masked with -inf)
     * @param cleanQ,noiseQ queries as the scores use them (after rotary) [B, T, H, d]
     * @param cleanK,noiseK keys as the scores use them [B, T, H_kv, d]
     * @param scale the layer's multiplier of q.k
     * @param softcap c where the scores are soft-capped, s = c tanh(scale q.k / c) (Gemma 2); 0 for none
     * @param allKeys whether to prepare the estimate for all keys of a head patched at once
     */
    QkFix(
            NDArray scores,
            NDArray cleanQ,
            NDArray noiseQ,
            NDArray cleanK,
            NDArray noiseK,
            double scale,
            double softcap,
            boolean allKeys) {
        // The construction makes some forty float64 [B, H, T, T] temporaries; only seven are kept. They are made in a
        // scope of their own, closed here, or a long prompt's pass would hold all of them for every layer.
        NDManager owner = scores.getManager();
        try (NDManager work = owner.newSubManager()) {
            NDArray a = Scoped.view(work, scores).toType(DataType.FLOAT64, false);
            int heads = (int) cleanQ.getShape().get(2);
            groups = heads / (int) cleanK.getShape().get(2);
            NDArray qc = perHead(Scoped.view(work, cleanQ), 1);
            NDArray kc = perHead(Scoped.view(work, cleanK), groups);
            NDArray dq = perHead(Scoped.view(work, noiseQ), 1).sub(qc);
            NDArray dk = perHead(Scoped.view(work, noiseK), groups).sub(kc);
            NDArray logP = a.logSoftmax(-1);
            pattern = logP.exp();

            // Query t patched: only row t of the scores moves, by (q'_t - q_t).k_s * scale (eqs. 6-7); the whole
            // row is recomputed, so no probability is formed from another.
            NDArray keysT = kc.transpose(0, 1, 3, 2);
            NDArray raw = softcap == 0 ? null : times(qc.matMul(keysT), scale);
            NDArray queryScores = a.add(scoreChange(raw, times(dq.matMul(keysT), scale), softcap));
            queryDelta = queryScores.softmax(-1).sub(pattern);

            // Key s patched: column s of every row t >= s moves by delta_ts = q_t.(k'_s - k_s) * scale.
            NDArray delta = scoreChange(raw, times(qc.matMul(dk.transpose(0, 1, 3, 2)), scale), softcap);
            dominant = pattern.gt(0.5);
            NDArray minusInfinity = a.zerosLike().log();
            NDArray othersOfDominant = logSumExp(NDArrays.where(dominant, minusInfinity, logP));
            NDArray logRest = NDArrays.where(
                    dominant,
                    othersOfDominant.broadcast(a.getShape()),
                    plus(pattern.neg(), 1).log());
            // Each other key's share of the rest of its row, p_j / (1 - p_dominant): exact however small both are
            // (p_j may underflow to 0 while the patched row hands it most of the weight).
            NDArray finiteOthers =
                    NDArrays.where(othersOfDominant.isInfinite(), othersOfDominant.zerosLike(), othersOfDominant);
            restShare = NDArrays.where(
                    dominant, a.zerosLike(), logP.sub(finiteOthers).exp());
            // log of the patched row's total relative to the clean one: log(rest + p e^delta).
            NDArray logTotal = logAddExp(logRest, logP.add(delta));
            keySelf = logP.add(delta).sub(logTotal).exp().sub(pattern);
            // The others' relative change is 1/total - 1. For a dominant key it multiplies their share of the rest
            // (restShare, summed in keys()), so it is scaled by the rest: rest/total - rest, finite where 1/total
            // overflows. A row whose only visible key is s has no others to change.
            keyOthers = NDArrays.where(
                    logRest.isInfinite(),
                    a.zerosLike(),
                    NDArrays.where(
                            dominant,
                            logRest.sub(logTotal).exp().sub(logRest.exp()),
                            plus(logTotal.neg().exp(), -1)));
            allKeysDelta = allKeys ? a.add(delta).softmax(-1).sub(pattern) : null;
            for (NDArray kept :
                    new NDArray[] {pattern, queryDelta, dominant, restShare, keySelf, keyOthers, allKeysDelta}) {
                if (kept != null) {
                    kept.attach(owner);
                }
            }
        }
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
        NDArray weighted = g64.mul(pattern);
        // sum over j != s of g_tj A_tj: the row total less key s, except for a row's dominant key, whose own term
        // would leave only rounding error behind; there the others are summed directly, as shares of the rest.
        NDArray rowTotal = weighted.sum(new int[] {-1}, true);
        NDArray othersOfDominant = g64.mul(restShare).sum(new int[] {-1}, true);
        NDArray others =
                NDArrays.where(dominant, othersOfDominant.broadcast(weighted.getShape()), rowTotal.sub(weighted));
        NDArray change = g64.mul(keySelf).add(others.mul(keyOthers));
        return groupSum(change.sum(new int[] {2}).transpose(0, 2, 1));
    }

    /** Estimates [B, H_kv] for all keys of a key/value head patched at once (a coarse key node). */
    NDArray allKeys(NDArray g) {
        NDArray perQueryHead =
                g.toType(DataType.FLOAT64, false).mul(allKeysDelta).sum(new int[] {2, 3});
        Shape s = perQueryHead.getShape();
        return perQueryHead.reshape(s.get(0), s.get(1) / groups, groups).sum(new int[] {-1});
    }

    /**
     * The change of the scores when the uncapped ones, {@code raw}, move by {@code rawChange}: that change itself,
     * or under soft-capping c tanh((raw + change) / c) - c tanh(raw / c), exact however far a patch moves them.
     * Masked entries stay -inf in the clean scores this is added to.
     */
    static NDArray scoreChange(NDArray raw, NDArray rawChange, double softcap) {
        if (softcap == 0) {
            return rawChange;
        }
        return times(
                times(raw.add(rawChange), 1 / softcap)
                        .tanh()
                        .sub(times(raw, 1 / softcap).tanh()),
                softcap);
    }

    /** log(sum(exp(x))) over the last axis, kept [.., 1]; -inf where every x is -inf. */
    private static NDArray logSumExp(NDArray x) {
        NDArray max = x.max(new int[] {-1}, true);
        NDArray shift = NDArrays.where(max.isInfinite(), max.zerosLike(), max);
        return x.sub(shift).exp().sum(new int[] {-1}, true).log().add(shift);
    }

    /** log(exp(x) + exp(y)) elementwise, for x finite or -inf and y likewise but not both -inf. */
    private static NDArray logAddExp(NDArray x, NDArray y) {
        NDArray max = x.maximum(y);
        return x.sub(max).exp().add(y.sub(max).exp()).log().add(max);
    }

    /** [B, T, H, d] to [B, H, T, d] in float64, with key/value heads repeated for their query-head group. */
    static NDArray perHead(NDArray x, int groups) {
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
