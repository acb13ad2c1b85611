package dev.patchbay.nodes;

/**
 * What an ablated activation takes instead of its own: one vocabulary for every use-case that ablates (a circuit's
 * edges outside it, generation's patches from source prompts, and those to come). On the wire, EvaluateCircuit's
 * and DiscoverCircuit's {@code Ablation} and Generate's {@code OP_PATCH}, {@code OP_MEAN}, {@code OP_RESAMPLE}
 * map onto it.
 */
public enum Ablation {
    /**
     * Another prompt's activation, position for position: the pair's noise prompt (circuits), or the one source
     * prompt a patch names (generation). The noise prompt is the source of patched activations throughout.
     */
    NOISE_PROMPT,
    /** Zero. */
    ZERO,
    /** The mean over prompts at each position: the pairs' clean prompts (circuits), the sources (generation). */
    MEAN,
    /** One other prompt's activation, drawn with the seed: another pair's clean prompt, or one of the sources. */
    RESAMPLE
}
