package dev.patchbay.passes;

import dev.patchbay.model.ModelConfig;

/**
 * A model's memory budget for one batched pass, and what fits it: how many rows of each pass kind, estimated by
 * {@link PassMemory} from the model's shape and element size before anything runs. Planning asks this, never the
 * device: it is arithmetic, and touches no array.
 *
 * @param elementBytes bytes per activation value (the compute precision's)
 * @param bytes native bytes one batched pass of this model may hold at its peak
 */
public record Budget(ModelConfig config, int elementBytes, long bytes) {
    public Budget {
        if (elementBytes < 1 || bytes < 1) {
            throw new IllegalArgumentException("a budget needs positive element and budget sizes");
        }
    }

    /** How many rows of {@code rowBytes} each fit; 0 when not even one does. */
    public int rowsFitting(long rowBytes) {
        return (int) Math.min(Integer.MAX_VALUE, bytes / Math.max(1, rowBytes));
    }

    /**
     * One forward row (a clean, noise or patched run) of {@code length} tokens, its attention made in chunks (no hook
     * on an attention map).
     */
    public long forwardRowBytes(int length) {
        return PassMemory.forwardRowBytes(config, length, elementBytes, false);
    }

    /**
     * One AtP-family pair of {@code length} tokens, with the QK fix where {@code qkFix}, and GradDrop's variants (and
     * the QK fix's tables kept for them) where {@code gradDrop}.
     */
    public long gradientRowBytes(int length, boolean qkFix, boolean gradDrop) {
        return PassMemory.gradientRowBytes(config, length, elementBytes, qkFix, gradDrop);
    }

    /** One AtP-family pair with per-layer recomputation ({@link LayerwiseGradientWork}). */
    public long layerwiseGradientRowBytes(
            int length, boolean qkFix, boolean gradDrop, boolean perPosition, boolean keepQkTables) {
        return PassMemory.layerwiseGradientRowBytes(
                config, length, elementBytes, qkFix, gradDrop, perPosition, keepQkTables);
    }

    /** One pair of an edge estimate of {@code length} tokens. */
    public long edgeRowBytes(int length, EdgeEstimate estimate, int steps) {
        return PassMemory.edgeRowBytes(config, length, elementBytes, estimate, steps);
    }

    /** One pair of an edge estimate with per-layer recomputation ({@link LayerwiseEdgeWork}). */
    public long layerwiseEdgeRowBytes(int length, EdgeEstimate estimate, int steps, boolean perPosition) {
        return PassMemory.layerwiseEdgeRowBytes(config, length, elementBytes, estimate, steps, perPosition);
    }

    /**
     * A generation of {@code rows} sequences reaching {@code length} tokens: its KV cache and its first step, which
     * runs the prompts whole; with {@code wholeMaps} (a steer on an attention map) that step's maps are made whole.
     */
    public long generationBytes(int rows, int length, boolean wholeMaps) {
        return PassMemory.kvCacheBytes(config, rows, length, elementBytes)
                + rows * PassMemory.forwardRowBytes(config, length, elementBytes, wholeMaps);
    }

    /** The KV caches of {@code rows} sequences reaching {@code length} tokens. */
    public long kvCacheBytes(int rows, int length) {
        return PassMemory.kvCacheBytes(config, rows, length, elementBytes);
    }

    public int forwardRowsFitting(int length) {
        return rowsFitting(forwardRowBytes(length));
    }

    public int gradientRowsFitting(int length, boolean qkFix, boolean gradDrop) {
        return rowsFitting(gradientRowBytes(length, qkFix, gradDrop));
    }

    public int layerwiseGradientRowsFitting(
            int length, boolean qkFix, boolean gradDrop, boolean perPosition, boolean keepQkTables) {
        return rowsFitting(layerwiseGradientRowBytes(length, qkFix, gradDrop, perPosition, keepQkTables));
    }

    public int edgeRowsFitting(int length, EdgeEstimate estimate, int steps) {
        return rowsFitting(edgeRowBytes(length, estimate, steps));
    }

    public int layerwiseEdgeRowsFitting(int length, EdgeEstimate estimate, int steps, boolean perPosition) {
        return rowsFitting(layerwiseEdgeRowBytes(length, estimate, steps, perPosition));
    }
}
