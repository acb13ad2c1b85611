package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.Float64Models;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.family.HandBuiltModel;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Discovery on a model built by hand whose circuit is known: no nonlinearity, zero query and key weights (fixed
 * attention), and only head L0H0 (its values and output) and the embeddings carry anything. The behaviour flows
 * along exactly three edges: embed->logits, embed->L0H0.v and L0H0->logits; every other edge's weights are zero.
 */
class CircuitDiscoveryTest extends Float64Models {
    private static final Set<String> PLANTED = Set.of("embed->logits", "embed->L0H0.v", "L0H0->logits");
    private static final PromptPair PAIR = new PromptPair(
            new int[] {3, 7, 1, 19, 4, 12},
            new int[] {8, 7, 2, 5, 4, 0},
            Metric.logitDiff(new int[] {2, 5}, new int[] {9}));

    private HookedTransformer planted() {
        Random random = new Random(13);
        HandBuiltModel b = new HandBuiltModel(2, 2, 8, 16, 20, "linear");
        b.random("wte.weight", 1.0, random);
        // Head 0 of layer 0: its value columns (2d + [0, d_head)) and its rows of the output projection.
        for (int row = 0; row < 8; row++) {
            for (int col = 16; col < 20; col++) {
                b.set("h.0.attn.c_attn.weight", row, col, random.nextGaussian());
            }
        }
        for (int row = 0; row < 4; row++) {
            for (int col = 0; col < 8; col++) {
                b.set("h.0.attn.c_proj.weight", row, col, random.nextGaussian());
            }
        }
        return b.build(manager);
    }

    /**
     * The head's path (-3.02) and the direct path (+2.63) nearly cancel: the head's two edges alone have faithfulness
     * 7.7, which must not count as reaching the target.
     */
    @Test
    void greedyDiscoveryFromEapFindsExactlyThePlantedCircuit() {
        HookedTransformer model = planted();
        PassRunner runner = PassRunner.direct(model);
        EdgeResult eap = EdgeAttribution.run(
                runner,
                List.of(PAIR),
                new EdgeAttribution.Settings(EdgeAttribution.Method.EAP, false, 1, 4, 16),
                EdgeAttribution.Listener.NONE);
        List<Edge> ranking =
                eap.top(eap.size()).stream().map(EdgeResult.Scored::edge).toList();
        try (CircuitEvaluation eval = new CircuitEvaluation(runner, List.of(PAIR), Ablation.NOISE_PROMPT, 0, 16)) {
            List<CircuitDiscovery.Step> steps = new ArrayList<>();
            CircuitDiscovery.Found found = CircuitDiscovery.greedy(eval, ranking, 0.999, steps::add);
            assertEquals(PLANTED, names(found.edges()));
            assertEquals(1.0, found.faithfulness(), 1e-12, "the planted edges carry the whole behaviour");
            assertEquals(found.steps(), steps);
            assertTrue(found.forwardPasses() > 0 && found.forwardPasses() < eap.size(), "" + found.forwardPasses());
        }
    }

    @Test
    void acdcStyleSearchFindsExactlyThePlantedCircuitAtAHigherCost() {
        HookedTransformer model = planted();
        PassRunner runner = PassRunner.direct(model);
        EdgeGraph graph = new EdgeGraph(model.config());
        try (CircuitEvaluation eval = new CircuitEvaluation(runner, List.of(PAIR), Ablation.NOISE_PROMPT, 0, 16)) {
            CircuitDiscovery.Found found = CircuitDiscovery.acdc(eval, graph, 1e-6, step -> {});
            assertEquals(PLANTED, names(found.edges()));
            // One check per edge of the model (the full and empty circuits once more).
            assertEquals(graph.edges() + 2, found.forwardPasses(), 1e-9);
        }
    }

    private static Set<String> names(List<Edge> edges) {
        return Set.copyOf(edges.stream().map(Edge::name).toList());
    }
}
