package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EdgeGraph;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Results of an {@link EdgeWork}: per reader group, each pair's estimates [pair][edge] in the order of
 * {@link dev.patchbay.nodes.EdgeBlock}; the positions when per position (null otherwise), the pairs' metrics, and
 * what the passes cost.
 */
public record EdgeEstimates(
        Map<EdgeGraph.Group, double[][]> estimates,
        int[] positions,
        double[] cleanMetrics,
        double[] noiseMetrics,
        Cost cost) {
    /**
     * The estimates a pass holds on the device, [B, edges] per group, read back; per position, every position of a
     * batch of {@code length} tokens.
     */
    static EdgeEstimates readBack(
            Map<EdgeGraph.Group, NDArray> onDevice,
            boolean perPosition,
            int length,
            double[] cleanMetrics,
            double[] noiseMetrics,
            Cost cost) {
        Map<EdgeGraph.Group, double[][]> estimates = new LinkedHashMap<>();
        onDevice.forEach((g, values) -> estimates.put(g, rows(values)));
        int[] positions = perPosition ? IntStream.range(0, length).toArray() : null;
        return new EdgeEstimates(estimates, positions, cleanMetrics, noiseMetrics, cost);
    }

    /** Estimates [B, edges] read back as each row's values. */
    private static double[][] rows(NDArray values) {
        int count = (int) values.getShape().get(0);
        double[] flat = values.toDoubleArray();
        int per = flat.length / count;
        double[][] out = new double[count][per];
        for (int r = 0; r < count; r++) {
            System.arraycopy(flat, r * per, out[r], 0, per);
        }
        return out;
    }
}
