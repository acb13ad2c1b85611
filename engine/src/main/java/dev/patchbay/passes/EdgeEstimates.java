package dev.patchbay.passes;

import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EdgeGraph;
import java.util.Map;

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
        Cost cost) {}
