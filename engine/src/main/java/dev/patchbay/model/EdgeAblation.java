package dev.patchbay.model;

import ai.djl.ndarray.NDArray;

/**
 * Edges ablated in a forward pass, for evaluating a circuit (docs/spec/atp-spec.md section 10): each reader's input
 * becomes the stream as the run computes it plus, for every ablated edge into it, (the writer's ablated value - its
 * output in this run). Writers are numbered as {@code dev.patchbay.nodes.EdgeGraph} numbers them (the embeddings,
 * then per layer its heads and its MLP); readers likewise (per layer its query heads, key heads, value heads and MLP;
 * the logits last). Only for families whose heads' writes add up to the attention output (not Gemma's or OLMo 2's,
 * whose post-attention norm mixes them).
 *
 * @param ablated each row's ablated writer values [B, writers, T, d_model] in the model's dtype
 * @param mask [B, readers, writers] in the model's dtype: 1 where the edge is ablated, 0 where it is kept (and where
 *     there is no such edge)
 */
public record EdgeAblation(NDArray ablated, NDArray mask) {}
