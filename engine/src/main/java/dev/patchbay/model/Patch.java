package dev.patchbay.model;

import ai.djl.ndarray.NDArray;

/**
 * Overwrites part of one batch row's activation at a hook site with values from {@code source}, which has
 * that row's shape (the site's shape without the batch axis; a shorter position axis is padded).
 *
 * @param positions the token positions to overwrite (query positions for attention maps), or null for all
 * @param units the heads or neurons to overwrite, or null for all (ignored on residual sites)
 */
public record Patch(int row, NDArray source, int[] positions, int[] units) {
    public static Patch whole(int row, NDArray source) {
        return new Patch(row, source, null, null);
    }

    public static Patch of(int row, NDArray source, int[] positions, int[] units) {
        return new Patch(row, source, positions, units);
    }
}
