package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.function.Function;

/** Test metrics: per-row logit differences at each row's last real position. */
final class Metrics {
    private Metrics() {}

    /** logit[answer] - logit[wrong] at each row's final token; one value per row. */
    static Function<NDArray, NDArray> logitDiff(TokenBatch batch, int answer, int wrong) {
        return logits -> {
            Shape s = logits.getShape();
            int rows = (int) s.get(0);
            int length = (int) s.get(1);
            int vocab = (int) s.get(2);
            double[] weights = new double[rows * length * vocab];
            for (int r = 0; r < rows; r++) {
                int base = (r * length + batch.length(r) - 1) * vocab;
                weights[base + answer] += 1;
                weights[base + wrong] -= 1;
            }
            NDArray w = logits.getManager().create(weights, s).toType(logits.getDataType(), false);
            return logits.mul(w).sum(new int[] {1, 2});
        };
    }
}
