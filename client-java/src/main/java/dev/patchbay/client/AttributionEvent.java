package dev.patchbay.client;

import dev.patchbay.proto.v1.NodeKind;
import java.util.AbstractList;
import java.util.List;

/** What an Attribute call streams, in order: accepted, progress and effects, verified nodes, a summary. */
public sealed interface AttributionEvent {
    /**
     * The server took the request: {@code nodeCount} counts what {@code countUnit} names ("nodes" here); {@code
     * variant} says how the method runs where the server had a choice, and why (empty for the plain pass).
     */
    record Accepted(
            String requestId,
            long nodeCount,
            double plannedForwardPasses,
            String method,
            String metric,
            String countUnit,
            String variant)
            implements AttributionEvent {}

    /** Work done so far: stage is "scoring" or "verifying". */
    record Progress(String stage, long done, long total) implements AttributionEvent {}

    /**
     * The estimates of all nodes of one kind in one layer, final when they arrive: {@code values} is
     * [positions][units] flattened ([units] over all positions). Node rows and their names are made only when
     * asked for ({@link #node}, {@link #nodes}), since a response can hold millions of nodes.
     *
     * @param positions the token positions of the rows, empty for nodes over all positions
     */
    record Effects(NodeKind protoKind, int layer, int units, int[] positions, float[] values)
            implements AttributionEvent {
        /** The node kind's short name: q, k, v, z, post, attn_out, mlp_out or resid_pre. */
        public String kind() {
            return Nodes.site(protoKind);
        }

        public int size() {
            return values.length;
        }

        /** The node at flat index {@code i} of {@code values}, with its name. */
        public NodeEffect node(int i) {
            boolean hasUnits = switch (protoKind) {
                case ATTN_OUT, MLP_OUT, RESIDUAL -> false;
                default -> true;
            };
            int unit = hasUnits ? i % units : 0;
            int position = positions.length == 0 ? -1 : positions[i / units];
            return new NodeEffect(
                    Nodes.name(protoKind, layer, unit, position), kind(), layer, unit, position, values[i]);
        }

        /** Every node, as a list whose rows are made as they are read. */
        public List<NodeEffect> nodes() {
            return new AbstractList<>() {
                @Override
                public NodeEffect get(int i) {
                    return node(i);
                }

                @Override
                public int size() {
                    return values.length;
                }
            };
        }
    }

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

    /**
     * Costs and metric values, last; {@code magnitudes}: the scores are magnitudes (never negative, no sign: AtP*,
     * or a mean |estimate| over pairs), not signed changes of the metric.
     */
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
            int sharedBatches,
            boolean magnitudes)
            implements AttributionEvent {}
}
