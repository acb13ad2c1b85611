package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Ranking only what is asked for gives exactly the head of the full ranking. */
class AttributionResultTest {
    private static AttributionResult result(Random random) {
        List<EffectBlock> blocks = new ArrayList<>();
        for (int layer = 0; layer < 3; layer++) {
            double[] values = new double[4 * 5];
            for (int i = 0; i < values.length; i++) {
                // Few distinct magnitudes, both signs: many ties, which must keep the canonical order.
                values[i] = (random.nextInt(7) - 3) * 0.5;
            }
            blocks.add(new EffectBlock(NodeKind.HEAD_OUTPUT, layer, new int[] {0, 1, 2, 3, 4}, 4, values));
        }
        return new AttributionResult("atp", "logit_diff", 1, 0, 0, blocks, new Cost(0, 0, 0));
    }

    @Test
    void topKIsTheHeadOfTheFullRankingTiesIncluded() {
        Random random = new Random(3);
        for (int trial = 0; trial < 20; trial++) {
            AttributionResult r = result(random);
            List<AttributionResult.Scored> ranked = r.ranked();
            for (int k : new int[] {0, 1, 2, 7, 30, ranked.size(), ranked.size() + 5}) {
                assertEquals(ranked.subList(0, Math.min(k, ranked.size())), r.top(k), "k = " + k);
            }
        }
    }

    @Test
    void theNodesLeftAfterTheTopAreEveryOtherNodeInCanonicalOrder() {
        AttributionResult r = result(new Random(5));
        List<AttributionResult.Scored> top = r.top(7);
        List<Node> rest = r.nodesExcept(top);
        List<Node> expected = new ArrayList<>();
        for (EffectBlock b : r.blocks()) {
            for (int i = 0; i < b.size(); i++) {
                Node n = b.node(i);
                if (top.stream().noneMatch(s -> s.node().equals(n))) {
                    expected.add(n);
                }
            }
        }
        assertEquals(expected, rest);
        assertEquals(60 - 7, rest.size());
    }
}
