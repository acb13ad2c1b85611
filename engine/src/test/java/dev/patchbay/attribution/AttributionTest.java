package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.attribution.examples.ConstructedExample;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.MetricBatch;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every estimator against an oracle that is not itself: exact patching, finite differences, hand-worked models. */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class AttributionTest extends Float64Models {
    private static final Set<NodeKind> ALL_KINDS = EnumSet.allOf(NodeKind.class);

    /** A pair of equal length built from the golden prompt, with a few tokens changed in the noise prompt. */
    @Test
    void onALinearModelAtPEqualsActivationPatching() {
        HookedTransformer model = ToyModels.linear(manager, new Random(5));
        PromptPair pair = new PromptPair(
                new int[] {3, 7, 1, 19, 4, 12},
                new int[] {8, 7, 2, 5, 4, 0},
                Metric.logitDiff(new int[] {2, 5}, new int[] {9}));
        for (boolean perPosition : new boolean[] {true, false}) {
            NodeSet nodes = new NodeSet(ALL_KINDS, null, perPosition, null);
            AttributionResult exact = new ActivationPatching(16).run(model, List.of(pair), nodes);
            AttributionResult atp = new AtP(false, 4).run(model, List.of(pair), nodes);
            double largest = 0;
            for (AttributionResult.Scored s : exact.ranked()) {
                largest = Math.max(largest, Math.abs(s.estimate()));
                assertEquals(
                        s.estimate(),
                        atp.estimate(s.node().name()),
                        1e-9,
                        s.node().name());
            }
            assertTrue(largest > 0.1, "the test needs nodes that matter");
        }
    }

    /**
     * AtP is the directional derivative of the metric along the node's noise-minus-clean change, so it equals
     * the central difference (m(x + eps delta) - m(x - eps delta)) / (2 eps) with only the node's slice moved.
     * Float64, eps 1e-6: the truncation error is O(eps^2) (see HookedTransformerTest), tolerance 1e-7 relative.
     */
    @ParameterizedTest
    @MethodSource("models")
    void atPEqualsAFiniteDifferenceAtEveryNodeKind(String name) {
        HookedTransformer model = model(name);
        PromptPair pair = ToyModels.pair(name);
        Random random = new Random(11);
        for (boolean perPosition : new boolean[] {true, false}) {
            NodeSet nodes = new NodeSet(ALL_KINDS, null, perPosition, null);
            AttributionResult atp = new AtP(false, 4).run(model, List.of(pair), nodes);
            int checked = 0;
            for (EffectBlock block : atp.blocks()) {
                int index = random.nextInt(block.size());
                Node node = block.node(index);
                double numeric = finiteDifference(model, pair, node, 1e-6);
                assertEquals(numeric, block.value(index), 1e-7 * Math.max(1, Math.abs(numeric)), name + " " + node);
                checked++;
            }
            assertEquals(model.config().nLayers() * ALL_KINDS.size(), checked);
        }
    }

    private ConstructedExample.Measured measure(String example) {
        return ConstructedExample.all().stream()
                .filter(e -> e.name().equals(example))
                .findFirst()
                .orElseThrow()
                .measure(manager);
    }

    @Test
    void cancellationHidesANodeFromAtPButNotFromAtPStar() {
        ConstructedExample.Measured m = measure("cancellation");
        assertEquals(-0.5, m.exact(), 1e-12, "activation patching: the node matters");
        assertEquals(0.0, m.atp(), 1e-12, "AtP: direct and indirect gradients cancel");
        assertEquals(0.0, m.atpQkFix(), 1e-12, "the QK fix does not touch neurons");
        assertEquals(1.0, m.atpStar(), 1e-12, "AtP*: GradDrop sees the direct path alone");
        assertEquals(1, m.atpStarRank(), "AtP* ranks it first");
    }

    @Test
    void saturationHidesAKeyFromAtPButNotFromTheQkFix() {
        ConstructedExample.Measured m = measure("saturation");
        assertTrue(m.exact() > 0.99, "activation patching: the key matters, effect " + m.exact());
        assertTrue(Math.abs(m.atp()) < 1e-3, "AtP misses it: " + m.atp());
        // Everything after the pattern is linear in this model, so the QK fix is exact here.
        assertEquals(m.exact(), m.atpQkFix(), 1e-9, "the QK fix finds it");
        assertEquals(Math.abs(m.exact()), m.atpStar(), 1e-9, "AtP* keeps the QK fix");
        assertTrue(
                m.atpRank() > 1 && m.atpQkFixRank() == 1 && m.atpStarRank() == 1,
                "ranks " + m.atpRank() + ", " + m.atpQkFixRank() + ", " + m.atpStarRank());
    }

    @Test
    void aCancellationWithinOneLayerHidesANodeFromAtPStarToo() {
        ConstructedExample.Measured m = measure("same-layer cancellation");
        assertEquals(0.5, m.exact(), 1e-12);
        assertEquals(0.0, m.atp(), 1e-12);
        assertEquals(0.0, m.atpStar(), 1e-12);
    }

    @ParameterizedTest
    @MethodSource("models")
    void gradDropOnNodesWithOnlyADirectPathIsTheAbsoluteAtP(String name) {
        HookedTransformer model = model(name);
        int last = model.config().nLayers() - 1;
        NodeSet lastLayer = new NodeSet(
                EnumSet.of(NodeKind.QUERY, NodeKind.KEY, NodeKind.VALUE, NodeKind.HEAD_OUTPUT, NodeKind.NEURON),
                new int[] {last},
                true,
                null);
        AttributionResult fixed = new AtP(true, 2).run(model, List.of(ToyModels.pair(name)), lastLayer);
        AttributionResult star = new AtPStar(2).run(model, List.of(ToyModels.pair(name)), lastLayer);
        for (AttributionResult.Scored s : fixed.ranked()) {
            assertEquals(
                    Math.abs(s.estimate()),
                    star.estimate(s.node().name()),
                    1e-12,
                    s.node().name());
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void batchedResumedPatchingEqualsOneFullForwardPerNode(String name) {
        HookedTransformer model = model(name);
        PromptPair pair = ToyModels.pair(name);
        // Every kind at two positions (one early, the metric's own): one full forward per node is the oracle.
        NodeSet nodes = new NodeSet(ALL_KINDS, null, true, new int[] {3, pair.length() - 1});
        AttributionResult batched = new ActivationPatching(7).run(model, List.of(pair), nodes);
        double clean = metric(model, pair, Hooks.NONE);
        assertEquals(clean, batched.cleanMetric(), 1e-12);
        double worst = 0;
        for (AttributionResult.Scored s : batched.ranked()) {
            double alone = metric(model, pair, patchOne(model, pair, s.node())) - clean;
            worst = Math.max(worst, Math.abs(alone - s.estimate()));
        }
        assertTrue(worst <= 1e-12, name + ": batched and resumed differ from full forwards by " + worst);
        assertTrue(Math.abs(batched.ranked().get(0).estimate()) > 1e-3, "the test needs nodes that matter");
    }

    @ParameterizedTest
    @MethodSource("models")
    void aNodePatchedWithItsOwnCleanValueHasNoEffect(String name) {
        HookedTransformer model = model(name);
        PromptPair same = new PromptPair(
                ToyModels.pair(name).clean(),
                ToyModels.pair(name).clean(),
                ToyModels.pair(name).metric());
        for (AttributionResult.Scored s : new ActivationPatching(16)
                .run(model, List.of(same), NodeSet.attentionAndNeurons())
                .ranked()) {
            assertEquals(0.0, s.estimate(), 1e-12, s.node().name());
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void aDistributionAveragesPairs(String name) {
        HookedTransformer model = model(name);
        PromptPair a = ToyModels.pair(name);
        PromptPair b = new PromptPair(a.noise(), a.clean(), Metric.logitDiff(new int[] {7}, new int[] {3}));
        NodeSet heads = NodeSet.heads();
        for (AttributionMethod method : List.of(new ActivationPatching(8), new AtP(true, 2), new AtPStar(2))) {
            AttributionResult both = method.run(model, List.of(a, b), heads);
            AttributionResult first = method.run(model, List.of(a), heads);
            AttributionResult second = method.run(model, List.of(b), heads);
            boolean absolute = !(method instanceof ActivationPatching);
            for (AttributionResult.Scored s : both.ranked()) {
                double x = first.estimate(s.node().name());
                double y = second.estimate(s.node().name());
                double expected = absolute ? (Math.abs(x) + Math.abs(y)) / 2 : (x + y) / 2;
                assertEquals(
                        expected,
                        s.estimate(),
                        1e-12,
                        method.id() + " " + s.node().name());
            }
            assertEquals((first.cleanMetric() + second.cleanMetric()) / 2, both.cleanMetric(), 1e-12);
        }
    }

    private double finiteDifference(HookedTransformer model, PromptPair pair, Node node, double eps) {
        String site = node.kind().site(node.layer());
        ForwardResult clean = model.forward(
                manager,
                TokenBatch.of(pair.clean()),
                Hooks.builder().cache(site).build());
        ForwardResult noise = model.forward(
                manager,
                TokenBatch.of(pair.noise()),
                Hooks.builder().cache(site).build());
        NDArray x = clean.activation(site).get("0");
        NDArray step = noise.activation(site).get("0").sub(x).mul(eps);
        double up = metric(model, pair, patch(site, node, x.add(step)));
        double down = metric(model, pair, patch(site, node, x.sub(step)));
        return (up - down) / (2 * eps);
    }

    private Hooks patchOne(HookedTransformer model, PromptPair pair, Node node) {
        String site = node.kind().site(node.layer());
        ForwardResult noise = model.forward(
                manager,
                TokenBatch.of(pair.noise()),
                Hooks.builder().cache(site).build());
        return patch(site, node, noise.activation(site).get("0"));
    }

    private static Hooks patch(String site, Node node, NDArray source) {
        return Hooks.builder()
                .patch(
                        site,
                        Patch.of(
                                0,
                                source,
                                node.position() < 0 ? null : new int[] {node.position()},
                                node.kind().hasUnits() ? new int[] {node.unit()} : null))
                .build();
    }

    private double metric(HookedTransformer model, PromptPair pair, Hooks hooks) {
        ForwardResult r = model.forward(manager, TokenBatch.of(pair.clean()), hooks);
        return new MetricBatch(manager, List.of(pair.metric()), new int[] {pair.metricPosition()}, null)
                .apply(r.logits())
                .getDouble(0);
    }
}
