package dev.patchbay.attribution.examples;

import ai.djl.ndarray.NDManager;
import dev.patchbay.attribution.ActivationPatching;
import dev.patchbay.attribution.AtP;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.family.HandBuiltModel;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.List;
import java.util.function.Function;

/**
 * A model built by hand to plant one of AtP's failure modes (docs/spec/atp-spec.md sections 4 and 5) in a node whose
 * true effect can be worked out on paper, with the prompt pair that exposes it.
 *
 * @param planted the node whose effect AtP gets wrong
 */
public record ConstructedExample(
        String name,
        String mechanism,
        Function<NDManager, HookedTransformer> model,
        PromptPair pair,
        NodeSet nodes,
        String planted) {

    /** The planted node's effect by exact patching and each gradient method's estimate of it, with their ranks. */
    public record Measured(
            double exact,
            double atp,
            double atpQkFix,
            double atpStar,
            int atpRank,
            int atpQkFixRank,
            int atpStarRank,
            int nodes) {}

    public Measured measure(NDManager manager) {
        HookedTransformer m = model.apply(manager);
        double exact = new ActivationPatching(8).run(m, List.of(pair), nodes).estimate(planted);
        AttributionResult atp = run(new AtP(false, 1), m);
        AttributionResult fixed = run(new AtP(true, 1), m);
        AttributionResult star = run(new AtPStar(1), m);
        return new Measured(
                exact,
                atp.estimate(planted),
                fixed.estimate(planted),
                star.estimate(planted),
                rank(atp),
                rank(fixed),
                rank(star),
                atp.ranked().size());
    }

    private AttributionResult run(AttributionMethod method, HookedTransformer m) {
        return method.run(m, List.of(pair), nodes);
    }

    /** The planted node's 1-based place in the method's order (ties broken by the canonical node order). */
    private int rank(AttributionResult r) {
        List<AttributionResult.Scored> ranked = r.ranked();
        for (int i = 0; i < ranked.size(); i++) {
            if (ranked.get(i).node().name().equals(planted)) {
                return i + 1;
            }
        }
        throw new IllegalStateException(planted + " is not among the nodes");
    }

    /** Attention saturation (fixed by the QK fix), cancellation (fixed by GradDrop), and one GradDrop misses. */
    public static List<ConstructedExample> all() {
        Metric readsDim0 = Metric.logitDiff(new int[] {2}, new int[] {3});
        return List.of(
                new ConstructedExample(
                        "saturation",
                        """
                        One head; the metric is its attention to position 1 at the last position. A key weight of 20 \
                        puts the clean score of key 1 at -10 (attention 2.3e-5) and the noise score at +10 (attention \
                        0.9999). Patching the key moves the metric by about +1; its gradient is about A(1 - A) = \
                        2e-5.""",
                        ConstructedExample::saturation,
                        new PromptPair(
                                new int[] {0, 1, 0}, new int[] {0, 2, 0}, Metric.logitDiff(new int[] {3}, new int[] {4
                                })),
                        NodeSet.attention(),
                        "L0H0.k@1"),
                new ConstructedExample(
                        "cancellation",
                        """
                        Neuron L0N0 writes +1 to the metric directly and +1 to a relay that a ReLU neuron in layer 1 \
                        turns into -1 on the metric. On the clean prompt the two gradients cancel exactly; patching the \
                        neuron from the noise prompt moves the metric from 0.5 to 0. GradDrop's variant that drops \
                        layer 1 sees the direct path alone.""",
                        ConstructedExample::cancellation,
                        new PromptPair(new int[] {1, 0}, new int[] {1, 1}, readsDim0),
                        NodeSet.neurons(),
                        "L0N0@1"),
                new ConstructedExample(
                        "same-layer cancellation",
                        """
                        Neuron L0N0's two paths to the metric both run through layer 1 (one neuron adds, one \
                        subtracts), so every GradDrop variant keeps or cuts both: AtP* scores it 0 while patching it \
                        moves the metric by +0.5. This is the false negative the diagnostic exists for.""",
                        ConstructedExample::sameLayerCancellation,
                        new PromptPair(new int[] {1, 0}, new int[] {1, 1}, readsDim0),
                        NodeSet.neurons(),
                        "L0N0@1"));
    }

    /**
     * Residual dims: 0 metric, 1 key feature, 2 query feature, 3 value; d_head 4, scale 1/2. Token 0 (filler)
     * has only the query feature, token 1 a key feature of -1 and a value, token 2 a key feature of +1 and a
     * value; tokens 3 and 4 read the metric (e0 and 0). Layer 1 is empty, so GradDrop has a layer to drop.
     */
    public static HookedTransformer saturation(NDManager manager) {
        return new HandBuiltModel(2, 1, 4, 1, 5, "relu")
                .set("wte.weight", 0, 2, 1.0)
                .set("wte.weight", 1, 1, -1.0)
                .set("wte.weight", 1, 2, 1.0)
                .set("wte.weight", 1, 3, 1.0)
                .set("wte.weight", 2, 1, 1.0)
                .set("wte.weight", 2, 2, 1.0)
                .set("wte.weight", 2, 3, 1.0)
                .set("wte.weight", 3, 0, 1.0)
                .set("h.0.attn.c_attn.weight", 2, 0, 1.0) // q[0] <- query feature
                .set("h.0.attn.c_attn.weight", 1, 4, 20.0) // k[0] <- 20 * key feature
                .set("h.0.attn.c_attn.weight", 3, 8, 1.0) // v[0] <- value
                .set("h.0.attn.c_proj.weight", 0, 0, 1.0) // z[0] -> metric
                .build(manager);
    }

    /**
     * Residual dims: 0 carries the metric (token 2's embedding is e0, token 3's is 0, so logit(2) - logit(3)
     * reads dim 0), 1 is an input feature (token 0 has it, token 1 not), 2 relays. Layer 0's neuron 0 reads the
     * feature and writes +1 to the metric and +1 to the relay; layer 1's neuron 0 (ReLU, bias -0.5) reads the
     * relay and writes -1 to the metric. Clean [1, 0]: I = -0.5, AtP = 0, AtP* = |-1 * 1| = 1.
     */
    public static HookedTransformer cancellation(NDManager manager) {
        return new HandBuiltModel(2, 1, 4, 2, 4, "relu")
                .set("wte.weight", 0, 1, 1.0)
                .set("wte.weight", 2, 0, 1.0)
                .set("h.0.mlp.c_fc.weight", 1, 0, 1.0)
                .set("h.0.mlp.c_proj.weight", 0, 0, 1.0)
                .set("h.0.mlp.c_proj.weight", 0, 2, 1.0)
                .set("h.1.mlp.c_fc.weight", 2, 0, 1.0)
                .set("h.1.mlp.c_fc.bias", 0, 0, -0.5)
                .set("h.1.mlp.c_proj.weight", 0, 0, -1.0)
                .build(manager);
    }

    /**
     * Neuron L0N0 reads the input feature (dim 1) and writes a relay (dim 2); in layer 1, neuron 0 (ReLU, bias
     * -0.5) reads the relay and writes +1 to the metric, neuron 1 (ReLU, bias +0.5) reads it and writes -1. On
     * the clean prompt [1, 0] the relay is 1 and the gradients cancel (+1 - 1 = 0) in the full backward and in
     * every GradDrop variant. Patching from [1, 1] sets the relay to 0: neuron 0 falls to 0 (from 0.5) and
     * neuron 1 to 0.5 (from 1.5), moving the metric from -1 to -0.5.
     */
    public static HookedTransformer sameLayerCancellation(NDManager manager) {
        return new HandBuiltModel(2, 1, 4, 3, 4, "relu")
                .set("wte.weight", 0, 1, 1.0)
                .set("wte.weight", 2, 0, 1.0)
                .set("h.0.mlp.c_fc.weight", 1, 0, 1.0)
                .set("h.0.mlp.c_proj.weight", 0, 2, 1.0)
                .set("h.1.mlp.c_fc.weight", 2, 0, 1.0)
                .set("h.1.mlp.c_fc.bias", 0, 0, -0.5)
                .set("h.1.mlp.c_proj.weight", 0, 0, 1.0)
                .set("h.1.mlp.c_fc.weight", 2, 1, 1.0)
                .set("h.1.mlp.c_fc.bias", 0, 1, 0.5)
                .set("h.1.mlp.c_proj.weight", 1, 0, -1.0)
                .build(manager);
    }
}
