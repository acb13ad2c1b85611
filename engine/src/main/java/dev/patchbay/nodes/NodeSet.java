package dev.patchbay.nodes;

import dev.patchbay.model.ModelConfig;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * Which nodes a request scores: node kinds, layers, and either each position separately (optionally only
 * some positions) or each unit over all positions at once.
 *
 * @param layers layers to include, or null for all
 * @param perPosition whether a node is one position (L9H6.q@12) or all positions together (L9H6.q)
 * @param positions positions to include when per position, or null for all
 */
public record NodeSet(Set<NodeKind> kinds, int[] layers, boolean perPosition, int[] positions) {
    public NodeSet {
        if (kinds.isEmpty()) {
            throw new IllegalArgumentException("node set: no node kinds chosen");
        }
        kinds = Set.copyOf(kinds);
        layers = layers == null ? null : layers.clone();
        positions = positions == null ? null : positions.clone();
        if (positions != null && !perPosition) {
            throw new IllegalArgumentException("node set: positions can only be chosen for per-position nodes");
        }
        if ((layers != null && layers.length == 0) || (positions != null && positions.length == 0)) {
            throw new IllegalArgumentException("node set: empty list of layers or positions");
        }
    }

    // Records compare arrays by identity; two requests asking for the same layers must be equal (they may
    // then share batches and cache entries).
    @Override
    public boolean equals(Object o) {
        return o instanceof NodeSet n
                && kinds.equals(n.kinds)
                && Arrays.equals(layers, n.layers)
                && perPosition == n.perPosition
                && Arrays.equals(positions, n.positions);
    }

    @Override
    public int hashCode() {
        return ((kinds.hashCode() * 31 + Arrays.hashCode(layers)) * 31 + Boolean.hashCode(perPosition)) * 31
                + Arrays.hashCode(positions);
    }

    @Override
    public String toString() {
        return "NodeSet" + orderedKinds() + " layers " + (layers == null ? "all" : Arrays.toString(layers))
                + (perPosition
                        ? " per position " + (positions == null ? "all" : Arrays.toString(positions))
                        : " over all positions");
    }

    /** AttentionNodes: query, key, value and head output of every head at every position. */
    public static NodeSet attention() {
        return new NodeSet(
                EnumSet.of(NodeKind.QUERY, NodeKind.KEY, NodeKind.VALUE, NodeKind.HEAD_OUTPUT), null, true, null);
    }

    /** NeuronNodes: every MLP neuron at every position. */
    public static NodeSet neurons() {
        return new NodeSet(EnumSet.of(NodeKind.NEURON), null, true, null);
    }

    /** Each head's output over all positions (L9H6). */
    public static NodeSet heads() {
        return new NodeSet(EnumSet.of(NodeKind.HEAD_OUTPUT), null, false, null);
    }

    /** AttentionNodes and NeuronNodes. */
    public static NodeSet attentionAndNeurons() {
        return new NodeSet(
                EnumSet.of(NodeKind.QUERY, NodeKind.KEY, NodeKind.VALUE, NodeKind.HEAD_OUTPUT, NodeKind.NEURON),
                null,
                true,
                null);
    }

    /** Whether the set has query or key nodes: the ones the QK fix re-estimates. */
    public boolean hasQueriesOrKeys() {
        return kinds.contains(NodeKind.QUERY) || kinds.contains(NodeKind.KEY);
    }

    public NodeSet withPerPosition(boolean perPosition) {
        return new NodeSet(kinds, layers, perPosition, perPosition ? positions : null);
    }

    /** The layers to score, checked against the model. */
    public int[] layers(ModelConfig config) {
        if (layers == null) {
            return IntStream.range(0, config.nLayers()).toArray();
        }
        for (int l : layers) {
            if (l < 0 || l >= config.nLayers()) {
                throw new IllegalArgumentException("node set: layer " + l + " outside [0, " + config.nLayers() + ")");
            }
        }
        return Arrays.stream(layers).sorted().distinct().toArray();
    }

    /** The positions of per-position nodes for prompts of {@code length} tokens, or null over all positions. */
    public int[] positions(int length) {
        if (!perPosition) {
            return null;
        }
        if (positions == null) {
            return IntStream.range(0, length).toArray();
        }
        for (int p : positions) {
            if (p < 0 || p >= length) {
                throw new IllegalArgumentException(
                        "node set: position " + p + " outside the prompt of " + length + " tokens");
            }
        }
        return Arrays.stream(positions).sorted().distinct().toArray();
    }

    /** Kinds in a fixed order, so blocks come out in the same order every time. */
    public List<NodeKind> orderedKinds() {
        return Arrays.stream(NodeKind.values()).filter(kinds::contains).toList();
    }

    /**
     * Every node, in the canonical order the baselines use: layer, then site (in {@link NodeKind} order), then
     * unit, then position.
     */
    public java.util.List<Node> enumerate(ModelConfig config, int length) {
        int[] pos = positions(length);
        java.util.List<Node> out = new java.util.ArrayList<>();
        for (int layer : layers(config)) {
            for (NodeKind kind : orderedKinds()) {
                for (int u = 0; u < kind.units(config); u++) {
                    if (pos == null) {
                        out.add(new Node(kind, layer, u, -1));
                    } else {
                        for (int p : pos) {
                            out.add(new Node(kind, layer, u, p));
                        }
                    }
                }
            }
        }
        return out;
    }

    /** How many nodes this set has on a model, for prompts of {@code length} tokens. */
    public long count(ModelConfig config, int length) {
        int[] pos = positions(length);
        long perLayer = 0;
        for (NodeKind k : kinds) {
            perLayer += (long) k.units(config) * (pos == null ? 1 : pos.length);
        }
        return perLayer * layers(config).length;
    }
}
