package dev.patchbay.features;

import dev.patchbay.nodes.Cost;
import java.util.List;

/**
 * EAP's estimates of the edges between two dictionaries' features for one pair (issue 33, in progress): each edge
 * from an upstream feature at one position to a downstream feature at a position at or after it.
 *
 * @param downstream the downstream nodes whose incoming edges were estimated, largest |AtP estimate| first
 */
public record FeatureEdges(
        String upstreamDictionary,
        String downstreamDictionary,
        List<FeatureNode> downstream,
        List<Edge> edges,
        Cost cost) {
    /**
     * One edge: upstream feature {@code from} to downstream feature {@code to}, its estimate the metric's change when
     * the upstream feature takes its noise value and only the downstream feature sees it, to first order.
     */
    public record Edge(FeatureNode from, FeatureNode to, double estimate) {
        public String name() {
            return from.name() + "->" + to.name();
        }
    }
}
