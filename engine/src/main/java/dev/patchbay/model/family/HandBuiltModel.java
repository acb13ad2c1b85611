package dev.patchbay.model.family;

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
 * A small GPT-2-shaped model without normalization, in float64, built from weights set one entry at a time,
 * so that every activation and gradient can be worked out by hand. Unset weights are zero; names are GPT-2's
 * without the "transformer." prefix.
 */
public final class HandBuiltModel {
    private final ModelConfig config;
    private final Map<String, double[]> values = new HashMap<>();

    public HandBuiltModel(int layers, int heads, int dModel, int dMlp, int vocab, String activation) {
        config = ModelConfig.builder(Architecture.GPT2)
                .nLayers(layers)
                .nHeads(heads)
                .nKvHeads(heads)
                .dModel(dModel)
                .dHead(dModel / heads)
                .dMlp(dMlp)
                .vocabSize(vocab)
                .maxPositions(16)
                .normEps(1e-5)
                .activation(activation)
                .ropeTheta(0)
                .tiedEmbeddings(true)
                .attentionBias(true)
                .mlpBias(true)
                .attnScale(1.0 / Math.sqrt((double) dModel / heads))
                .normalization(ModelConfig.Normalization.NONE)
                .build();
    }

    /** Sets one entry of a weight whose shape the config implies. */
    public HandBuiltModel set(String name, int row, int column, double value) {
        long[] shape = shape(name);
        double[] w = values.computeIfAbsent(name, n -> new double[(int) new Shape(shape).size()]);
        w[row * (int) (shape.length == 2 ? shape[1] : 1) + column] = value;
        return this;
    }

    /** Fills a weight with Gaussian entries of standard deviation {@code scale}. */
    public HandBuiltModel random(String name, double scale, Random random) {
        double[] w = new double[(int) new Shape(shape(name)).size()];
        for (int i = 0; i < w.length; i++) {
            w[i] = scale * random.nextGaussian();
        }
        values.put(name, w);
        return this;
    }

    /** The live values of a weight set so far, to edit in place. */
    public double[] values(String name) {
        return values.get(name);
    }

    public HookedTransformer build(NDManager manager) {
        return Families.build(
                config,
                new Weights() {
                    @Override
                    public NDArray get(String name, long... shape) {
                        double[] w = values.getOrDefault(name, new double[(int) new Shape(shape).size()]);
                        return manager.create(w, new Shape(shape)).toType(DataType.FLOAT64, false);
                    }

                    @Override
                    public boolean has(String name) {
                        return values.containsKey(name);
                    }
                },
                manager);
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
