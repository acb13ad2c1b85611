package dev.patchbay;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.family.HandBuiltModel;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A model whose patch effects AtP gets exactly: no nonlinearity and fixed attention. The hand-built models
 * that plant AtP's failure modes are {@link dev.patchbay.attribution.examples.ConstructedExample}'s.
 */
public final class ToyModels {
    private ToyModels() {}

    /** Random weights with q and k weights zero (so attention is uniform and fixed), no nonlinearity at all. */
    public static HookedTransformer linear(NDManager manager, Random random) {
        HandBuiltModel b = new HandBuiltModel(2, 2, 8, 16, 20, "linear");
        b.random("wte.weight", 1.0, random);
        for (int l = 0; l < 2; l++) {
            String p = "h." + l + ".";
            b.random(p + "attn.c_attn.weight", 0.4, random);
            double[] qkv = b.values(p + "attn.c_attn.weight");
            for (int row = 0; row < 8; row++) {
                for (int col = 0; col < 16; col++) {
                    qkv[row * 24 + col] = 0; // q and k columns
                }
            }
            b.random(p + "attn.c_proj.weight", 0.4, random);
            b.random(p + "mlp.c_fc.weight", 0.4, random);
            b.random(p + "mlp.c_proj.weight", 0.4, random);
        }
        return b.build(manager);
    }

    /** Golden prompt 2 of {@code model}, with every third token changed in the noise prompt. */
    public static PromptPair pair(String model) {
        int[] clean = TestCheckpoints.golden(model).ids(2);
        int[] noise = clean.clone();
        for (int t = 1; t < noise.length; t += 3) {
            noise[t] = (noise[t] * 7 + 13) % 300;
        }
        return new PromptPair(clean, noise, Metric.logitDiff(new int[] {11}, new int[] {40}));
    }

    /**
     * {@link #pair} and the same two tokens shorter with the answers swapped: a batch of two lengths, so that padding
     * and per-row metric positions are exercised.
     */
    public static List<PromptPair> pairsOfTwoLengths(String model) {
        PromptPair first = pair(model);
        int shorter = first.length() - 2;
        PromptPair second = new PromptPair(
                Arrays.copyOf(first.noise(), shorter),
                Arrays.copyOf(first.clean(), shorter),
                Metric.logitDiff(new int[] {40}, new int[] {11}));
        return List.of(first, second);
    }
}
