package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.Precision;
import dev.patchbay.nodes.Metric;
import java.util.List;
import java.util.function.Function;

/**
 * Evaluates each batch row's metric at that row's position: logits [B, T, V] to one value per row [B]. Rows
 * may carry different answer tokens (the pairs of a distribution), but share one metric kind.
 */
public final class MetricBatch implements Function<NDArray, NDArray> {
    private final Metric.Kind kind;
    private final NDManager scope;
    private final List<Metric> metrics;
    private final int[] positions;
    private final NDArray referenceLogProbs;
    private NDArray weights;

    /**
     * @param referenceLogProbs [B, V] clean log-probabilities for the KL metric, or null to compare each row
     *     with its own output (the clean run itself, where KL is 0)
     */
    public MetricBatch(NDManager scope, List<Metric> metrics, int[] positions, NDArray referenceLogProbs) {
        this.scope = scope;
        this.metrics = metrics;
        this.positions = positions;
        this.referenceLogProbs = referenceLogProbs;
        this.kind = metrics.get(0).kind();
        for (Metric m : metrics) {
            if (m.kind() != kind) {
                throw new IllegalArgumentException("metric: all pairs of a request must use one metric kind");
            }
        }
    }

    @Override
    public NDArray apply(NDArray logits) {
        // The metric is float32 in a half-precision model: a logit difference or log-softmax of half values loses
        // the digits rankings hinge on.
        NDArray last = Precision.widened(atPositions(logits));
        return switch (kind) {
            case LOGIT_DIFF -> last.mul(weights(last)).sum(new int[] {-1});
            case PROB -> last.softmax(-1).mul(weights(last)).sum(new int[] {-1});
            case LOG_PROB -> {
                NDArray logProbs = last.logSoftmax(-1);
                NDArray masked = NDArrays.where(
                        weights(last).gt(0),
                        logProbs,
                        scope.full(logProbs.getShape(), Float.NEGATIVE_INFINITY, logProbs.getDataType()));
                NDArray max = masked.max(new int[] {-1}, true);
                yield masked.sub(max).exp().sum(new int[] {-1}).log().add(max.squeeze(-1));
            }
            case KL_DIVERGENCE -> {
                NDArray logProbs = last.logSoftmax(-1);
                NDArray reference = referenceLogProbs != null ? referenceLogProbs : logProbs.stopGradient();
                yield reference.exp().mul(reference.sub(logProbs)).sum(new int[] {-1});
            }
        };
    }

    /** The logits [B, V] at each row's metric position. */
    public NDArray atPositions(NDArray logits) {
        Shape s = logits.getShape();
        long length = s.get(1);
        long[] rows = new long[positions.length];
        for (int r = 0; r < rows.length; r++) {
            rows[r] = r * length + positions[r];
        }
        return logits.reshape(s.get(0) * length, s.get(2)).get(new NDIndex("{}", scope.create(rows)));
    }

    /** Per-row token weights [B, V]: +1/|answers| and -1/|wrongs| for a logit difference, 1 on answers otherwise. */
    private NDArray weights(NDArray like) {
        if (weights == null) {
            int vocab = (int) like.getShape().get(1);
            double[] w = new double[metrics.size() * vocab];
            for (int r = 0; r < metrics.size(); r++) {
                Metric m = metrics.get(r);
                boolean diff = kind == Metric.Kind.LOGIT_DIFF;
                for (int a : m.answers()) {
                    w[r * vocab + a] += diff ? 1.0 / m.answers().length : 1.0;
                }
                for (int b : m.wrongs()) {
                    w[r * vocab + b] -= diff ? 1.0 / m.wrongs().length : 0.0;
                }
            }
            weights = scope.create(w, new Shape(metrics.size(), vocab)).toType(like.getDataType(), false);
        }
        return weights;
    }
}
