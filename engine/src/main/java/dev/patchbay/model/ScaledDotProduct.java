package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Attention's arithmetic, without hooks: scores, softmax, the weighted values, grouped-query heads, causal masks and
 * a forward a chunk of query rows at a time. {@link Attention} hooks it into a layer; {@link AttentionBackwardInChunks}
 * runs it again chunk by chunk for the backward.
 */
final class ScaledDotProduct {
    private ScaledDotProduct() {}

    /**
     * z [B, T, H, d] computed {@code rows} query rows at a time, each chunk's maps freed before the next; the queries
     * are the last T of the T_keys keys (a generation step's follow its cache); owned by {@code layer}.
     */
    static NDArray inQueryChunks(
            NDManager layer, NDArray q, NDArray k, NDArray v, double scale, double softcap, int window, int rows) {
        long queries = q.getShape().get(1);
        long keys = k.getShape().get(1);
        NDList outputs = new NDList();
        for (long from = 0; from < queries; from += rows) {
            long to = Math.min(queries, from + rows);
            try (NDManager chunk = layer.newSubManager()) {
                NDArray ownQ = Scoped.view(chunk, q).get(new NDIndex(":, {}:{}", from, to));
                NDArray mask = mask(chunk, to - from, keys, keys - queries + from, window, q.getDataType());
                // Keys and values as views owned by the chunk: DJL attaches an op's result to its first input's
                // manager, so grouped-query heads expanded from the layer's arrays would stay until the layer ends.
                NDArray z = weighted(
                        softmax(rawScores(ownQ, Scoped.view(chunk, k), scale, softcap)
                                .add(mask)),
                        Scoped.view(chunk, v),
                        ownQ);
                z.attach(layer);
                outputs.add(z);
            }
        }
        return NDArrays.concat(outputs, 1);
    }

    /** Scaled and soft-capped scores [B, H, T, T_keys], before the mask; owned by q's manager. */
    static NDArray rawScores(NDArray q, NDArray k, double scale, double softcap) {
        int groups = (int) (q.getShape().get(2) / k.getShape().get(2));
        NDArray keys = expandKvHeads(k, groups).transpose(0, 2, 3, 1); // [B, H, d, T_keys]
        return Functional.softcap(Scalars.times(q.transpose(0, 2, 1, 3).matMul(keys), scale), softcap);
    }

    /** In half precision the softmax is taken in float32, as transformers upcasts it. */
    static NDArray softmax(NDArray scores) {
        return Precision.narrowed(Precision.widened(scores).softmax(-1), scores.getDataType());
    }

    /** z [B, T, H, d]: the pattern [B, H, T, T_keys] applied to the values v [B, T_keys, H_kv, d]. */
    static NDArray weighted(NDArray pattern, NDArray v, NDArray q) {
        int groups = (int) (q.getShape().get(2) / v.getShape().get(2));
        NDArray values = expandKvHeads(v, groups).transpose(0, 2, 1, 3); // [B, H, T_keys, d]
        return pattern.matMul(values).transpose(0, 2, 1, 3);
    }

    /** Grouped-query attention: query head h reads key/value head h / groups. */
    static NDArray expandKvHeads(NDArray x, int groups) {
        if (groups == 1) {
            return x;
        }
        Shape s = x.getShape();
        return x.expandDims(3)
                .broadcast(new Shape(s.get(0), s.get(1), s.get(2), groups, s.get(3)))
                .reshape(s.get(0), s.get(1), s.get(2) * groups, s.get(3));
    }

    /**
     * An additive mask [queries, keys] in {@code type}, owned by {@code scope}: 0 where a query sees a key and -inf
     * elsewhere, for queries at positions {@code first}, {@code first + 1}, ... among the keys; with a sliding window a
     * query sees {@code window} keys, itself included. Made on the device from two ranges (log of the visibility:
     * log 1 = 0, log 0 = -inf), not from Java data: a chunk of 64 rows of 8,192 keys would be 2 MB of garbage on the
     * heap per chunk, and no Java array dies under autograd's feet.
     */
    static NDArray mask(NDManager scope, long queries, long keys, long first, int window, DataType type) {
        try (NDManager work = scope.newSubManager()) {
            NDArray key = work.arange(0, (int) keys).reshape(1, keys);
            NDArray visible =
                    key.lte(work.arange((int) first, (int) (first + queries)).reshape(queries, 1));
            if (window > 0) {
                // Key k is in the window of the query at position p where k > p - window.
                NDArray windowStart = work.arange((int) (first - window), (int) (first + queries - window));
                visible = visible.logicalAnd(key.gt(windowStart.reshape(queries, 1)));
            }
            // Each step's input freed before the next, in float32 until the last: at most 12 bytes a query-key pair
            // at once for a float64 mask (a whole-map pass's memoized mask counts against its budget).
            NDArray visibility = visible.toType(DataType.FLOAT32, false);
            visible.close();
            NDArray mask = visibility.log();
            visibility.close();
            if (type != DataType.FLOAT32) {
                NDArray typed = mask.toType(type, false);
                mask.close();
                mask = typed;
            }
            mask.attach(scope);
            return mask;
        }
    }
}
