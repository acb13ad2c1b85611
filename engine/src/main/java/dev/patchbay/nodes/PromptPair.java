package dev.patchbay.nodes;

/**
 * A clean prompt, on which the behaviour occurs, and a noise prompt of the same token length whose
 * activations are patched in (the noising direction). The metric is read at {@code position} of the clean run,
 * or at its final token when {@code position} is -1.
 */
public record PromptPair(int[] clean, int[] noise, Metric metric, int position) {
    public PromptPair {
        if (clean.length == 0) {
            throw new IllegalArgumentException("clean prompt has no tokens");
        }
        if (clean.length != noise.length) {
            throw new IllegalArgumentException("clean and noise prompts must have the same token length (aligned"
                    + " positions): clean has " + clean.length + ", noise has " + noise.length);
        }
        if (position < -1 || position >= clean.length) {
            throw new IllegalArgumentException(
                    "position " + position + " is outside the prompt of " + clean.length + " tokens");
        }
        clean = clean.clone();
        noise = noise.clone();
    }

    public PromptPair(int[] clean, int[] noise, Metric metric) {
        this(clean, noise, metric, -1);
    }

    public int length() {
        return clean.length;
    }

    /** The position the metric is read at. */
    public int metricPosition() {
        return position < 0 ? clean.length - 1 : position;
    }
}
