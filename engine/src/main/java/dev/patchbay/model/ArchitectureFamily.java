package dev.patchbay.model;

import ai.djl.ndarray.NDManager;

/**
 * Everything one architecture family knows, in one place: the keys of its config.json, the names of its
 * weights, which block it runs, and the hook sites only it has. Adding a family is a class implementing this,
 * a block (or a variant of one), and a constant in {@link Architecture}.
 */
interface ArchitectureFamily {
    /** The model's shape and choices, read from its config keys; {@code architecture} is the caller's constant. */
    ModelConfig config(Architecture architecture, ConfigValues c);

    /** The embeddings, blocks, final normalization and unembedding, by the checkpoint's weight names. */
    HookedTransformer build(ModelConfig config, Weights w, NDManager manager);

    /** Whether positions are a learned table: a hook_pos_embed site, and prompts no longer than the table. */
    boolean learnedPositions();

    /** Whether the MLP is gated: hook_pre is the gate and hook_pre_linear the linear branch. */
    boolean gatedMlp();

    /** Whether each head's query and key are normalized before rotary: sites hook_q_normed and hook_k_normed. */
    default boolean normsHeadsOfQueriesAndKeys() {
        return false;
    }
}
