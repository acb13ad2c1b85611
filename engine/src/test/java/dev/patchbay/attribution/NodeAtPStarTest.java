package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.MetricBatch;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * AtP* on nodes against its definition computed the slow way (eq. 11): GradDrop's variants as L genuinely separate
 * backward passes, each with one layer's write stopped in the forward graph (the estimator shares one backward and
 * pushes partial ones, through the schedule it shares with edges), and the QK fix as the pattern change of a model run
 * with the node patched, dotted with that variant's pattern gradient. Float64, so the tolerance (1e-10 of the largest
 * score) is round-off over a few hundred products, not a method's error.
 */
class NodeAtPStarTest extends Float64Models {
    /** One random unit of every kind in every layer, over all positions at once. */
    @ParameterizedTest
    @MethodSource("models")
    void atPStarOnNodesEqualsSeparateBackwardPasses(String name) {
        HookedTransformer model = model(name);
        PromptPair pair = ToyModels.pair(name);
        int layers = model.config().nLayers();
        NodeSet nodes = new NodeSet(EnumSet.allOf(NodeKind.class), null, false, null);
        AttributionResult star = new AtPStar(1).run(model, List.of(pair), nodes);
        Random random = new Random(31);
        double largest = 0;
        double worst = 0;
        int checked = 0;
        for (int l0 = 0; l0 < layers; l0++) {
            final int layer = l0;
            for (NodeKind kind : EnumSet.allOf(NodeKind.class)) {
                List<AttributionResult.Scored> ofKind = star.ranked().stream()
                        .filter(s -> s.node().kind() == kind && s.node().layer() == layer)
                        .toList();
                if (ofKind.isEmpty()) {
                    continue;
                }
                Node node = ofKind.get(random.nextInt(ofKind.size())).node();
                double sum = 0;
                int terms = 0;
                for (int l = 0; l < layers; l++) {
                    if (kind != NodeKind.RESIDUAL && l == node.layer()) {
                        continue; // the variant that cuts the node's only way out: a zero term of the mean
                    }
                    sum += Math.abs(estimateUnderVariant(model, pair, node, l));
                    terms++;
                }
                double expected = sum / Math.max(1, layers - 1);
                assertTrue(terms >= layers - 1, "every informative variant is summed");
                largest = Math.max(largest, expected);
                worst = Math.max(worst, Math.abs(expected - star.estimate(node.name())));
                checked++;
            }
        }
        assertTrue(checked >= 5 * layers, "every kind in every layer: " + checked);
        assertTrue(largest > 1e-4, "the test needs nodes that matter: " + largest);
        assertEquals(0, worst, 1e-10 * largest, name);
    }

    /**
     * The node's AtP estimate with layer {@code stopped}'s write cut from the backward: for queries and keys the QK
     * fix (the pattern with the unit patched at every position at once, as the node over all positions is defined, minus
     * the clean one, dotted with that variant's pattern gradient), otherwise (noise - clean) . gradient at
     * the node's site.
     */
    private double estimateUnderVariant(HookedTransformer model, PromptPair pair, Node node, int stopped) {
        String site = node.kind().site(node.layer());
        boolean qk = node.kind() == NodeKind.QUERY || node.kind() == NodeKind.KEY;
        String pattern = HookSites.attn(node.layer(), "pattern");
        try (NDManager scope = model.compute().newScope()) {
            MetricBatch metric =
                    new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null);
            ForwardResult variant = model.forwardWithGradients(
                    scope,
                    TokenBatch.of(pair.clean()),
                    Hooks.builder()
                            .stopGradientThrough(stopped)
                            .cache(site)
                            .cache(pattern)
                            .gradient(qk ? pattern : site)
                            .build(),
                    metric);
            ForwardResult noise = model.forward(
                    scope,
                    TokenBatch.of(pair.noise()),
                    Hooks.builder().cache(site).build());
            NDArray clean = variant.activation(site).get("0");
            NDArray noisy = noise.activation(site).get("0");
            if (!qk) {
                NDArray change = noisy.sub(clean);
                NDArray gradient = variant.gradient(site).get("0");
                if (node.kind().hasUnits()) {
                    // [T, units, ...] for heads, [T, units] for neurons: the node is one unit at every position.
                    change = change.get(":, {}", node.unit());
                    gradient = gradient.get(":, {}", node.unit());
                }
                return change.mul(gradient).sum().getDouble();
            }
            NDArray gradient = variant.gradient(pattern);
            NDArray cleanPattern = variant.activation(pattern);
            ForwardResult moved = model.forward(
                    scope,
                    TokenBatch.of(pair.clean()),
                    Hooks.builder()
                            .patch(site, Patch.of(0, noisy, null, new int[] {node.unit()}))
                            .cache(pattern)
                            .build());
            return gradient.mul(moved.activation(pattern).sub(cleanPattern))
                    .sum()
                    .getDouble();
        }
    }
}
