package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Prompts of possibly different lengths, run as one batch. Rows are padded on the right: with causal
 * attention no real token can see a pad, so every real position computes exactly what it would alone, and
 * positions need no shifting. Read a row's results at positions below {@link #length(int)}.
 */
public final class TokenBatch {
    private final int[][] rows;
    private final int maxLength;

    private TokenBatch(int[][] rows) {
        if (rows.length == 0) {
            throw new IllegalArgumentException("a batch needs at least one prompt");
        }
        int max = 0;
        for (int r = 0; r < rows.length; r++) {
            if (rows[r].length == 0) {
                throw new IllegalArgumentException("prompt " + r + " has no tokens");
            }
            max = Math.max(max, rows[r].length);
        }
        this.rows = rows;
        this.maxLength = max;
    }

    public static TokenBatch of(int[]... rows) {
        int[][] copy = new int[rows.length][];
        for (int i = 0; i < rows.length; i++) {
            copy[i] = rows[i].clone();
        }
        return new TokenBatch(copy);
    }

    public int size() {
        return rows.length;
    }

    /** The padded length, the longest row's. */
    public int length() {
        return maxLength;
    }

    public int length(int row) {
        return rows[row].length;
    }

    /** Checks every id against the vocabulary, naming the first bad one. */
    void checkIds(int vocabSize) {
        for (int r = 0; r < rows.length; r++) {
            for (int t = 0; t < rows[r].length; t++) {
                int id = rows[r][t];
                if (id < 0 || id >= vocabSize) {
                    throw new IllegalArgumentException("token id " + id + " at row " + r + ", position " + t
                            + " is outside the vocabulary [0, " + vocabSize + ")");
                }
            }
        }
    }

    /** The ids as an int64 array [B, T], padded with token 0. */
    NDArray ids(NDManager scope) {
        long[] flat = new long[rows.length * maxLength];
        for (int r = 0; r < rows.length; r++) {
            for (int t = 0; t < rows[r].length; t++) {
                flat[r * maxLength + t] = rows[r][t];
            }
        }
        return scope.create(flat, new Shape(rows.length, maxLength));
    }
}
