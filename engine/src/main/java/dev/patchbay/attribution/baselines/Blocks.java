package dev.patchbay.attribution.baselines;

import dev.patchbay.attribution.NodePatching;
import dev.patchbay.nodes.Node;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Blocks (Algorithm 2): the nodes in canonical order cut into contiguous blocks of {@code size}, each block
 * patched jointly; every node scores its block's effect, so verification goes block by block in order of
 * |effect|. Cost: one forward pass per block. Effects can cancel inside a block.
 */
public final class Blocks extends PatchingBaseline {
    private final int size;

    public Blocks(int size, int chunk) {
        super(chunk);
        if (size < 1) {
            throw new IllegalArgumentException("block size must be positive");
        }
        this.size = size;
    }

    @Override
    public String id() {
        return "blocks";
    }

    @Override
    double plannedGroups(long nodes) {
        return Math.ceil((double) nodes / size);
    }

    @Override
    Map<Node, Double> score(List<Node> nodes, NodePatching patching) {
        List<List<Node>> blocks = new ArrayList<>();
        for (int i = 0; i < nodes.size(); i += size) {
            blocks.add(nodes.subList(i, Math.min(nodes.size(), i + size)));
        }
        double[] effects = patching.patch(blocks);
        Map<Node, Double> scores = new HashMap<>();
        for (int b = 0; b < blocks.size(); b++) {
            for (Node n : blocks.get(b)) {
                scores.put(n, effects[b]);
            }
        }
        return scores;
    }
}
