package dev.patchbay.model;

import ai.djl.ndarray.NDArray;

/**
 * Edges ablated in a forward pass, for evaluating a circuit or a causal-scrubbing hypothesis (docs/spec/atp-spec.md
 * sections 10 and 11): each reader's input becomes the stream as the run computes it plus, for every ablated edge
 * into it, (the value its source gives the writer - the writer's output in this run). Writers are numbered as
 * {@code dev.patchbay.nodes.EdgeGraph} numbers them (the embeddings, then per layer its heads and its MLP); readers
 * likewise (per layer its query heads, key heads, value heads and MLP; the logits last). Only for families whose
 * heads' writes add up to the attention output (not Gemma's or OLMo 2's, whose post-attention norm mixes them).
 *
 * <p>A source is a value of one writer. A circuit ablates every edge of a writer to the same value (one source per
 * writer, {@link #perWriter}); causal scrubbing gives each edge of a writer its own (the writer run on another
 * input), so a writer may have several sources.
 *
 * @param ablated each row's source values [B, S, T, d_model] in the model's dtype
 * @param mask [B, readers, S] in the model's dtype: 1 where a reader takes the source instead of its writer's output,
 *     0 elsewhere
 * @param sourceWriters the writer of each source, in ascending order
 */
public record EdgeAblation(NDArray ablated, NDArray mask, int[] sourceWriters) {
    public EdgeAblation {
        for (int s = 1; s < sourceWriters.length; s++) {
            if (sourceWriters[s] < sourceWriters[s - 1]) {
                throw new IllegalArgumentException("sourceWriters: not in ascending order at " + s);
            }
        }
    }

    /** One source per writer: ablated [B, writers, T, d], mask [B, readers, writers]. */
    public static EdgeAblation perWriter(NDArray ablated, NDArray mask) {
        int[] writers = new int[(int) ablated.getShape().get(1)];
        for (int w = 0; w < writers.length; w++) {
            writers[w] = w;
        }
        return new EdgeAblation(ablated, mask, writers);
    }
}
