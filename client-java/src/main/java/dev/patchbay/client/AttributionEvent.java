package dev.patchbay.client;

import java.util.List;

/** What an Attribute call streams, in order: accepted, progress and effects, verified nodes, a summary. */
public sealed interface AttributionEvent {
    /** The server took the request. */
    record Accepted(String requestId, long nodeCount, double plannedForwardPasses, String method, String metric)
            implements AttributionEvent {}

    /** Work done so far: stage is "scoring" or "verifying". */
    record Progress(String stage, long done, long total) implements AttributionEvent {}

    /** The estimates of all nodes of one kind in one layer, final when they arrive. */
    record Effects(String kind, int layer, List<NodeEffect> nodes) implements AttributionEvent {}

    /** A top node verified by exact activation patching, in rank order. */
    record Verified(int rank, NodeEffect node, double effect) implements AttributionEvent {}

    /**
     * Bounds on the effects of the nodes left unverified: {@code flagged} maps node names to their upper
     * bounds (largest first) and should be verified next.
     */
    record Diagnostic(
            long nodes,
            double maxUpperBound,
            double threshold,
            double alpha,
            java.util.Map<String, Double> flagged,
            double expectedMissed,
            double forwardPasses)
            implements AttributionEvent {}

    /** Costs and metric values, last. */
    record Summary(
            String method,
            String metric,
            int pairs,
            double cleanMetric,
            double noiseMetric,
            double forwardPasses,
            double computeForwardEquivalents,
            double wallSeconds,
            int cacheHits,
            int cacheMisses,
            int sharedBatches)
            implements AttributionEvent {}
}
