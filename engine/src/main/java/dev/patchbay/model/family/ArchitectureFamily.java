package dev.patchbay.model.family;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.Architecture;
import dev.patchbay.model.ConfigValues;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Weights;

/**
 * What one architecture family knows beyond {@link Architecture}'s facts: the keys of its config.json, the names of
 * its weights and which block it runs. Adding a family is a class implementing this, a block (or a variant of one),
 * a constant in {@link Architecture} and a case in {@link Families}.
 */
interface ArchitectureFamily {
    /** The model's shape and choices, read from its config keys; {@code architecture} is the caller's constant. */
    ModelConfig config(Architecture architecture, ConfigValues c);

    /** The embeddings, blocks, final normalization and unembedding, by the checkpoint's weight names. */
    HookedTransformer build(ModelConfig config, Weights w, NDManager manager);
}
