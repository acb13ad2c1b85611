package dev.patchbay.passes;

import static dev.patchbay.model.Scalars.plus;
import static dev.patchbay.model.Scalars.times;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.Scoped;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;

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
 * <p>Every table is a [B, H, T, T] float64 array whose query rows are independent (a row's softmax, its dominant
 * key, its patched totals), so the tables are made a chunk of query rows at a time: the preparation's some forty
 * temporaries then hold {@link #CHUNK_BYTES} rather than forty heads x T x T maps, which at 1,024 tokens of the
 * GPT-2-small shape were 4 GB a layer. A pass that reads each group once (AtP with the QK fix, and per-layer
 * recomputation, which holds one layer at a time) keeps no table: a read makes each chunk's tables, only those it
 * needs (a query read skips the key tables, a third of the work), contracts them with the pattern gradient and frees
 * them. GradDrop (AtP*) reads a layer
 * once per variant, so there the tables are kept, chunk by chunk; the estimates are linear in g, so each variant costs
 * only elementwise products.
 */
final class QkFix {
    /** Float64 [B, H, rows, T] temporaries one chunk's preparation holds at once (counted from the code below). */
    static final int PREPARATION_MAPS = 40;
    /** Float64 [B, H, T, T] tables kept per layer when the tables are kept (GradDrop). */
    static final int KEPT_MAPS = 7;
    /** The working set of one chunk of query rows: its preparation's temporaries. */
    static final long CHUNK_BYTES = 64L << 20;

    private final Rows scores;
    private final NDArray cleanQ;
    private final NDArray cleanK;
    private final NDArray queryChange;
    private final NDArray keyChange;
    private final double scale;
    private final double softcap;
    private final boolean allKeys;
    private final int groups;
    private final int length;
    private final int rowsPerChunk;
    /** Each chunk's tables when they are kept; null when each read makes them anew. */
    private final List<Tables> kept;

    /**
     * Query rows [from, to) of a [B, H, T, T] map (the clean scores, the pattern's gradient), owned by {@code into}:
     * rows of a whole map, or rows made on demand where the map is never whole (attention differentiated in chunks).
     */
    interface Rows {
        NDArray rows(NDManager into, int from, int to);

        /** Rows of a whole map. */
        static Rows of(NDArray whole) {
            return (into, from, to) -> Scoped.view(into, whole).get(new NDIndex(":, :, {}:{}", from, to));
        }
    }

    /** What a read needs of a chunk's tables: made at each read, a chunk makes only those. */
    private enum Read {
        QUERIES,
        KEYS,
        ALL_KEYS
    }

    /** One chunk's tables: query rows [from, to) of every [B, H, T, T] table (null where not made). */
    private record Tables(
            int from,
            int to,
            NDArray pattern,
            NDArray queryDelta,
            /* Where a key holds more than half of its row (at most one key per row). */
            NDArray dominant,
            /* The patched key's own probability change, p'_ts - p_ts. */
            NDArray keySelf,
            /* Each key's share of the rest of a row that has a dominant key (0 for the dominant key itself). */
            NDArray restShare,
            /*
             * Every other key's relative change p'_tj / p_tj - 1, the same for all j != s of row t; for a row's
             * dominant key s, times the rest of the row (see restShare).
             */
            NDArray keyOthers,
            NDArray allKeysDelta) {}

    /** Over whole scores [B, H, T, T]; the copies and tables are owned by the scores' manager. */
    QkFix(
            NDArray scores,
            NDArray cleanQ,
            NDArray noiseQ,
            NDArray cleanK,
            NDArray noiseK,
            double scale,
            double softcap,
            boolean allKeys,
            boolean keep,
            int rowsPerChunk) {
        this(
                Rows.of(scores),
                (int) scores.getShape().get(2),
                scores.getManager(),
                cleanQ,
                noiseQ,
                cleanK,
                noiseK,
                scale,
                softcap,
                allKeys,
                keep,
                rowsPerChunk);
    }

    /**
     * Keeps float64 per-head copies of the queries and keys and their changes (small: T x d_head per head), and with
     * {@code keep} every chunk's tables.
     *
     * @param scores the clean run's attention scores [B, H, T, T] (scaled, masked with -inf), by rows
     * @param length T, the query rows
     * @param owner what owns the kept copies and tables
     * @param cleanQ,noiseQ queries as the scores use them (after rotary) [B, T, H, d]
     * @param cleanK,noiseK keys as the scores use them [B, T, H_kv, d]
     * @param scale the layer's multiplier of q.k
     * @param softcap c where the scores are soft-capped, s = c tanh(scale q.k / c) (Gemma 2); 0 for none
     * @param allKeys whether to prepare the estimate for all keys of a head patched at once
     * @param keep whether the tables are kept for many reads (GradDrop's variants) rather than made at each read
     * @param rowsPerChunk query rows per chunk ({@link #rowsPerChunk} sizes it to {@link #CHUNK_BYTES})
     */
    QkFix(
            Rows scores,
            int length,
            NDManager owner,
            NDArray cleanQ,
            NDArray noiseQ,
            NDArray cleanK,
            NDArray noiseK,
            double scale,
            double softcap,
            boolean allKeys,
            boolean keep,
            int rowsPerChunk) {
        this.scores = scores;
        this.scale = scale;
        this.softcap = softcap;
        this.allKeys = allKeys;
        this.groups = (int) (cleanQ.getShape().get(2) / cleanK.getShape().get(2));
        this.length = length;
        this.rowsPerChunk = Math.max(1, rowsPerChunk);
        try (NDManager work = owner.newSubManager()) {
            NDArray qc = perHead(Scoped.view(work, cleanQ), 1);
            NDArray kc = perHead(Scoped.view(work, cleanK), groups);
            NDArray dq = perHead(Scoped.view(work, noiseQ), 1).sub(qc);
            NDArray dk = perHead(Scoped.view(work, noiseK), groups).sub(kc);
            this.cleanQ = qc;
            this.cleanK = kc;
            this.queryChange = dq;
            this.keyChange = dk;
            for (NDArray a : new NDArray[] {qc, kc, dq, dk}) {
                a.attach(owner);
            }
        }
        if (keep) {
            kept = new ArrayList<>();
            for (int from = 0; from < length; from += this.rowsPerChunk) {
                kept.add(tables(owner, from, Math.min(length, from + this.rowsPerChunk), everything()));
            }
        } else {
            kept = null;
        }
    }

    /** Every table a kept chunk holds: the queries', the keys', and the all-keys table where it was asked for. */
    private EnumSet<Read> everything() {
        return allKeys ? EnumSet.allOf(Read.class) : EnumSet.of(Read.QUERIES, Read.KEYS);
    }

    /** Query rows per chunk such that one chunk's preparation holds about {@link #CHUNK_BYTES} (at least one row). */
    static int rowsPerChunk(Shape scores) {
        return rowsPerChunk(scores.get(0), scores.get(1), scores.get(2), scores.get(3));
    }

    /** As {@link #rowsPerChunk(Shape)} for maps [batch, heads, queries, keys]. */
    static int rowsPerChunk(long batch, long heads, long queries, long keys) {
        long perRow = PREPARATION_MAPS * batch * heads * keys * Double.BYTES;
        return (int) Math.max(1, Math.min(queries, CHUNK_BYTES / Math.max(1, perRow)));
    }

    /**
     * The tables of query rows [from, to), owned by {@code into}; their temporaries are made in a scope of their own
     * and closed here.
     */
    private Tables tables(NDManager into, int from, int to, EnumSet<Read> reads) {
        try (NDManager work = into.newSubManager()) {
            NDIndex rows = new NDIndex(":, :, {}:{}", from, to);
            NDArray a = scores.rows(work, from, to).toType(DataType.FLOAT64, false);
            NDArray qc = Scoped.view(work, cleanQ).get(rows);
            NDArray keysT = Scoped.view(work, cleanK).transpose(0, 1, 3, 2);
            NDArray logP = a.logSoftmax(-1);
            NDArray pattern = logP.exp();
            NDArray raw = softcap == 0 ? null : times(qc.matMul(keysT), scale);

            NDArray queryDelta = null;
            if (reads.contains(Read.QUERIES)) {
                // Query t patched: only row t of the scores moves, by (q'_t - q_t).k_s * scale (eqs. 6-7); the whole
                // row is recomputed, so no probability is formed from another.
                NDArray dq = Scoped.view(work, queryChange).get(rows);
                NDArray queryScores = a.add(scoreChange(raw, times(dq.matMul(keysT), scale), softcap));
                queryDelta = queryScores.softmax(-1).sub(pattern);
            }

            // Key s patched: column s of every row t >= s moves by delta_ts = q_t.(k'_s - k_s) * scale.
            NDArray delta = null;
            if (reads.contains(Read.KEYS) || reads.contains(Read.ALL_KEYS)) {
                NDArray dkT = Scoped.view(work, keyChange).transpose(0, 1, 3, 2);
                delta = scoreChange(raw, times(qc.matMul(dkT), scale), softcap);
            }
            NDArray dominant = null;
            NDArray restShare = null;
            NDArray keySelf = null;
            NDArray keyOthers = null;
            if (reads.contains(Read.KEYS)) {
                dominant = pattern.gt(0.5);
                NDArray minusInfinity = a.zerosLike().log();
                NDArray othersOfDominant = logSumExp(NDArrays.where(dominant, minusInfinity, logP));
                NDArray logRest = NDArrays.where(
                        dominant,
                        othersOfDominant.broadcast(a.getShape()),
                        plus(pattern.neg(), 1).log());
                // Each other key's share of the rest of its row, p_j / (1 - p_dominant): exact however small both
                // are (p_j may underflow to 0 while the patched row hands it most of the weight).
                NDArray finiteOthers =
                        NDArrays.where(othersOfDominant.isInfinite(), othersOfDominant.zerosLike(), othersOfDominant);
                restShare = NDArrays.where(
                        dominant, a.zerosLike(), logP.sub(finiteOthers).exp());
                // log of the patched row's total relative to the clean one: log(rest + p e^delta).
                NDArray logTotal = logAddExp(logRest, logP.add(delta));
                keySelf = logP.add(delta).sub(logTotal).exp().sub(pattern);
                // The others' relative change is 1/total - 1. For a dominant key it multiplies their share of the
                // rest (restShare, summed in keys()), so it is scaled by the rest: rest/total - rest, finite where
                // 1/total overflows. A row whose only visible key is s has no others to change.
                keyOthers = NDArrays.where(
                        logRest.isInfinite(),
                        a.zerosLike(),
                        NDArrays.where(
                                dominant,
                                logRest.sub(logTotal).exp().sub(logRest.exp()),
                                plus(logTotal.neg().exp(), -1)));
            }
            NDArray allKeysDelta =
                    reads.contains(Read.ALL_KEYS) ? a.add(delta).softmax(-1).sub(pattern) : null;
            Tables t = new Tables(from, to, pattern, queryDelta, dominant, keySelf, restShare, keyOthers, allKeysDelta);
            for (NDArray table :
                    new NDArray[] {pattern, queryDelta, dominant, keySelf, restShare, keyOthers, allKeysDelta}) {
                if (table != null) {
                    table.attach(into);
                }
            }
            return t;
        }
    }

    /** What one chunk contributes to an estimate: from its tables and its rows of g (float64), in its scope. */
    private interface ChunkRead {
        NDArray apply(Tables tables, NDArray g);
    }

    /**
     * {@code read} of each chunk, in order, owned by {@code out}: each chunk's tables (made here unless kept) and its
     * rows of g are freed before the next chunk.
     */
    private List<NDArray> eachChunk(NDManager out, Rows g, Read needs, ChunkRead read) {
        List<NDArray> parts = new ArrayList<>();
        for (int c = 0, from = 0; from < length; c++, from += rowsPerChunk) {
            int to = Math.min(length, from + rowsPerChunk);
            try (NDManager work = out.newSubManager()) {
                NDArray part = read.apply(chunkTables(work, c, from, to, needs), chunkRows(work, g, from, to));
                part.attach(out);
                parts.add(part);
            }
        }
        return parts;
    }

    /**
     * {@code read} of each chunk added up as the chunks go, owned by {@code out}: a key's estimate sums every query row
     * that sees it, so each chunk's part is [B, H, T]; kept until the end, the parts of chunks of a few rows would be
     * heads x T^2 / rows (1.4 GB a read at 8,192 tokens of 8 heads).
     */
    private NDArray summedOverChunks(NDManager out, Rows g, Read needs, ChunkRead read) {
        NDArray total = null;
        for (int c = 0, from = 0; from < length; c++, from += rowsPerChunk) {
            int to = Math.min(length, from + rowsPerChunk);
            try (NDManager work = out.newSubManager()) {
                NDArray part = read.apply(chunkTables(work, c, from, to, needs), chunkRows(work, g, from, to));
                if (total == null) {
                    total = part;
                    total.attach(out);
                } else {
                    NDArray next = total.add(part);
                    total.close();
                    total = next;
                }
            }
        }
        return total;
    }

    /** Chunk {@code c}'s tables, kept or made in {@code work}. */
    private Tables chunkTables(NDManager work, int c, int from, int to, Read needs) {
        return kept != null ? kept.get(c) : tables(work, from, to, EnumSet.of(needs));
    }

    /** Rows [from, to) of g in float64, owned by {@code work}. */
    private static NDArray chunkRows(NDManager work, Rows g, int from, int to) {
        return g.rows(work, from, to).toType(DataType.FLOAT64, false);
    }

    /** Query node estimates [B, T, H] under pattern gradient {@code g} [B, H, T, T], owned by {@code out}. */
    NDArray queries(NDManager out, Rows g) {
        List<NDArray> rows = eachChunk(
                out, g, Read.QUERIES, (t, gc) -> gc.mul(t.queryDelta()).sum(new int[] {-1}));
        NDArray all = rows.size() == 1 ? rows.get(0) : NDArrays.concat(new NDList(rows), 2);
        return all.transpose(0, 2, 1);
    }

    /**
     * Key node estimates [B, T, H_kv]: each key's row changes, summed over the query rows that see it; owned by
     * {@code out}.
     */
    NDArray keys(NDManager out, Rows g) {
        NDArray perKey = summedOverChunks(out, g, Read.KEYS, (t, gc) -> {
            NDArray weighted = gc.mul(t.pattern());
            // sum over j != s of g_tj A_tj: the row total less key s, except for a row's dominant key, whose own
            // term would leave only rounding error behind; there the others are summed directly, as shares of the
            // rest.
            NDArray rowTotal = weighted.sum(new int[] {-1}, true);
            NDArray othersOfDominant = gc.mul(t.restShare()).sum(new int[] {-1}, true);
            NDArray others = NDArrays.where(
                    t.dominant(), othersOfDominant.broadcast(weighted.getShape()), rowTotal.sub(weighted));
            return gc.mul(t.keySelf()).add(others.mul(t.keyOthers())).sum(new int[] {2});
        });
        return groupSum(perKey.transpose(0, 2, 1));
    }

    /** Estimates [B, H_kv] for all keys of a key/value head patched at once (a coarse key node), owned by {@code out}. */
    NDArray allKeys(NDManager out, Rows g) {
        if (!allKeys) {
            throw new IllegalStateException("the QK fix was not prepared for all keys at once");
        }
        NDArray perQueryHead = summedOverChunks(
                out, g, Read.ALL_KEYS, (t, gc) -> gc.mul(t.allKeysDelta()).sum(new int[] {2, 3}));
        Shape s = perQueryHead.getShape();
        return perQueryHead.reshape(s.get(0), s.get(1) / groups, groups).sum(new int[] {-1});
    }

    /** {@link #queries(NDManager, Rows)} of a whole pattern gradient, owned by its manager. */
    NDArray queries(NDArray g) {
        return queries(g.getManager(), Rows.of(g));
    }

    /** {@link #keys(NDManager, Rows)} of a whole pattern gradient, owned by its manager. */
    NDArray keys(NDArray g) {
        return keys(g.getManager(), Rows.of(g));
    }

    /** {@link #allKeys(NDManager, Rows)} of a whole pattern gradient, owned by its manager. */
    NDArray allKeys(NDArray g) {
        return allKeys(g.getManager(), Rows.of(g));
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
