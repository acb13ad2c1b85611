package dev.patchbay.research.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.Weights;

/**
 * Random weights for any requested name, as GPT-2 initialises them: normal(0, 0.02) for matrices and
 * embeddings, ones for norm scales, zeros for biases. For benchmarks: the speed of a model does not depend
 * on what it learned.
 */
final class RandomWeights implements Weights {
    private final NDManager manager;

    RandomWeights(NDManager manager) {
        this.manager = manager;
    }

    @Override
    public NDArray get(String name, long... shape) {
        Shape s = new Shape(shape);
        if (name.contains("ln_") && name.endsWith("weight")) {
            return manager.ones(s, DataType.FLOAT32);
        }
        if (name.endsWith("bias")) {
            return manager.zeros(s, DataType.FLOAT32);
        }
        return manager.randomNormal(0f, 0.02f, s, DataType.FLOAT32);
    }

    @Override
    public boolean has(String name) {
        return name.startsWith("transformer.");
    }
}
