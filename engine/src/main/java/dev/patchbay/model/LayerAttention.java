package dev.patchbay.model;

/**
 * What differs between the attention of one layer and another's: which keys a query sees, and the rotary
 * frequencies. Mistral slides a window over every layer; Gemma 2 and 3 alternate local (windowed) and global
 * layers, and Gemma 3 gives them different rotary bases.
 *
 * @param slidingWindow the number of keys a query sees, itself included (transformers: key j is visible to
 *     query i when i - window < j <= i); 0 for all earlier keys
 * @param rope the layer's rotary frequencies (unused where the model has learned positions)
 */
public record LayerAttention(int slidingWindow, RopeParameters rope) {
    public LayerAttention {
        if (slidingWindow < 0) {
            throw new IllegalArgumentException("a sliding window must be positive, or 0 for none: " + slidingWindow);
        }
    }
}
