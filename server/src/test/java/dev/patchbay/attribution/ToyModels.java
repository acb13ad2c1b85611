package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Weights;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

/**
 * Small GPT-2-shaped models without normalization, built from explicit weights, in float64: a purely linear
 * model, and models that plant the two failure modes of AtP (cancellation and attention saturation) where the
 * right answers can be worked out by hand.
 */
final class ToyModels {
    private ToyModels() {}

    /** Unset weights are zero. Names are GPT-2's without the "transformer." prefix. */
    static final class Builder {
        final ModelConfig config;
        final Map<String, double[]> values = new HashMap<>();

        Builder(int layers, int heads, int dModel, int dMlp, int vocab, String activation) {
            config = new ModelConfig(Architecture.GPT2, layers, heads, heads, dModel, dModel / heads, dMlp, vocab, 16, 1e-5,
                    activation, 0, 0, false, true, true, true, 1.0 / Math.sqrt((double) dModel / heads), false,
                    ModelConfig.Normalization.NONE);
        }

        /** Sets one entry of a weight whose shape the config implies. */
        Builder set(String name, int row, int column, double value) {
            long[] shape = shape(name);
            double[] w = values.computeIfAbsent(name, n -> new double[(int) new Shape(shape).size()]);
            w[row * (int) (shape.length == 2 ? shape[1] : 1) + column] = value;
            return this;
        }

        Builder random(String name, double scale, Random random) {
            double[] w = new double[(int) new Shape(shape(name)).size()];
            for (int i = 0; i < w.length; i++) {
                w[i] = scale * random.nextGaussian();
            }
            values.put(name, w);
            return this;
        }

        HookedTransformer build(NDManager manager) {
            return HookedTransformer.build(config, new Weights() {
                @Override
                public NDArray get(String name, long... shape) {
                    double[] w = values.getOrDefault(name, new double[(int) new Shape(shape).size()]);
                    return manager.create(w, new Shape(shape)).toType(DataType.FLOAT64, false);
                }

                @Override
                public boolean has(String name) {
                    return values.containsKey(name);
                }
            }, manager);
        }

        private long[] shape(String name) {
            int d = config.dModel();
            int m = config.dMlp();
            if (name.equals("wte.weight")) {
                return new long[] {config.vocabSize(), d};
            }
            if (name.endsWith("attn.c_attn.weight")) {
                return new long[] {d, 3L * d};
            }
            if (name.endsWith("attn.c_proj.weight")) {
                return new long[] {d, d};
            }
            if (name.endsWith("mlp.c_fc.weight")) {
                return new long[] {d, m};
            }
            if (name.endsWith("mlp.c_proj.weight")) {
                return new long[] {m, d};
            }
            if (name.endsWith("mlp.c_fc.bias")) {
                return new long[] {m};
            }
            throw new IllegalArgumentException("no shape rule for " + name);
        }
    }

    /**
     * Residual dims: 0 carries the metric (token 2's embedding is e0, token 3's is 0, so logit(2) - logit(3)
     * reads dim 0), 1 is an input feature (token 0 has it, token 1 not), 2 relays. Layer 0's neuron 0 reads the
     * feature and writes +1 to the metric directly and +1 to the relay; layer 1's neuron 0 (ReLU, bias -0.5)
     * reads the relay and writes -1 to the metric. On the clean prompt [1, 0] the direct (+1) and indirect (-1)
     * gradients of neuron L0N0@1 cancel exactly, yet patching it from the noise prompt [1, 1] moves the metric
     * from 0.5 to 0: I = -0.5, AtP = 0, and GradDrop sees the direct path alone: AtP* = |-1 * 1| = 1.
     */
    static HookedTransformer cancellation(NDManager manager) {
        return new Builder(2, 1, 4, 2, 4, "relu")
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
     * A cancellation GradDrop cannot see, because both paths run through the same layer. Neuron L0N0 reads
     * the input feature (dim 1) and writes a relay (dim 2); in layer 1, neuron 0 (ReLU, bias -0.5) reads the
     * relay and writes +1 to the metric, neuron 1 (ReLU, bias +0.5) reads it and writes -1. On the clean prompt
     * [1, 0] the relay is 1: the two gradients cancel (+1 - 1 = 0), in the full backward and in every GradDrop
     * variant (dropping layer 1 cuts both), so AtP* scores L0N0@1 zero. Patching it from [1, 1] sets the relay
     * to 0: neuron 0 falls to 0 (from 0.5) and neuron 1 to 0.5 (from 1.5), moving the metric from -1 to -0.5.
     */
    static HookedTransformer sameLayerCancellation(NDManager manager) {
        return new Builder(2, 1, 4, 3, 4, "relu")
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

    /**
     * One head (d_head 4, scale 1/2). Residual dims: 0 metric, 1 key feature, 2 query feature, 3 value.
     * Token 0 (filler) has only the query feature, token 1 a key feature of -1 and a value, token 2 a key
     * feature of +1 and a value; tokens 3 and 4 read the metric (e0 and 0). The key weight is 20, so at the
     * last position of the clean prompt [0, 1, 0] the score of position 1 is -10 and its attention 2.3e-5; the
     * noise prompt [0, 2, 0] makes it +10 and its attention 0.9999. The metric is the attention to position
     * 1, so patching key L0H0.k@1 moves it by about +1, while its gradient is ~A(1 - A) ~ 2e-5: AtP misses it
     * and the QK fix, which recomputes the softmax, finds it. Layer 1 is empty, so GradDrop has a layer to drop.
     */
    static HookedTransformer saturation(NDManager manager) {
        return new Builder(2, 1, 4, 1, 5, "relu")
                .set("wte.weight", 0, 2, 1.0)
                .set("wte.weight", 1, 1, -1.0).set("wte.weight", 1, 2, 1.0).set("wte.weight", 1, 3, 1.0)
                .set("wte.weight", 2, 1, 1.0).set("wte.weight", 2, 2, 1.0).set("wte.weight", 2, 3, 1.0)
                .set("wte.weight", 3, 0, 1.0)
                .set("h.0.attn.c_attn.weight", 2, 0, 1.0) // q[0] <- query feature
                .set("h.0.attn.c_attn.weight", 1, 4, 20.0) // k[0] <- 20 * key feature
                .set("h.0.attn.c_attn.weight", 3, 8, 1.0) // v[0] <- value
                .set("h.0.attn.c_proj.weight", 0, 0, 1.0) // z[0] -> metric
                .build(manager);
    }

    /** Random weights with q and k weights zero (so attention is uniform and fixed), no nonlinearity at all. */
    static HookedTransformer linear(NDManager manager, Random random) {
        Builder b = new Builder(2, 2, 8, 16, 20, "linear");
        b.random("wte.weight", 1.0, random);
        for (int l = 0; l < 2; l++) {
            String p = "h." + l + ".";
            b.random(p + "attn.c_attn.weight", 0.4, random);
            double[] qkv = b.values.get(p + "attn.c_attn.weight");
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
}
