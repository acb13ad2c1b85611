package dev.patchbay.model;

import ai.djl.ndarray.NDArray;

/** Where a model's parameters come from, by their Hugging Face names: a checkpoint, or random weights. */
public interface Weights {
    /** The parameter {@code name}, which must have exactly {@code shape}, in the compute dtype. */
    NDArray get(String name, long... shape);

    boolean has(String name);
}
