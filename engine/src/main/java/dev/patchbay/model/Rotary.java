package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Rotary position embedding in the "rotate half" convention of GPT-NeoX and Llama, on the first
 * {@code rotaryDim} dimensions of each head (all of them for Llama, a fraction for Pythia and some Phi-3), at
 * the frequencies of {@link RopeParameters}.
 */
public final class Rotary {
    private final int rotaryDim;
    private final RopeParameters rope;

    public Rotary(int rotaryDim, RopeParameters rope) {
        this.rotaryDim = rotaryDim;
        this.rope = rope;
    }

    /**
     * This pass's cos and sin tables for x [B, T, H, d_head], made once and shared by every layer with the same
     * settings (Gemma 3's local and global layers differ): [1, T, 1, rotaryDim], or [B, T, 1, rotaryDim] where
     * the frequencies depend on each prompt's length (dynamic NTK scaling beyond the trained positions), so that a
     * prompt gets the same result in any batch.
     */
    public NDArray[] tables(HookContext ctx, NDArray x) {
        long length = x.getShape().get(1);
        // A generation step's positions follow the cached ones: each row's own where its cache differs in length.
        int offset = ctx.sharedOffset();
        String key = "rotary " + rotaryDim + " " + rope;
        if (offset >= 0 && !rope.dependsOnLength(offset + length)) {
            return ctx.memo(
                    key,
                    pass -> tables(pass, new long[] {offset + length}, new int[] {offset}, length, x.getDataType()));
        }
        TokenBatch batch = ctx.batch();
        int[] offsets = ctx.offsets();
        long[] lengths = new long[batch.size()];
        for (int r = 0; r < lengths.length; r++) {
            lengths[r] = offsets[r] + batch.length(r);
        }
        return ctx.memo(key + " per row", pass -> tables(pass, lengths, offsets, length, x.getDataType()));
    }

    /**
     * cos and sin tables [rows, T, 1, rotaryDim] of positions offset .. offset + T - 1 (each row's own offset),
     * each row's frequencies for its own length, in double precision.
     */
    private NDArray[] tables(NDManager scope, long[] rowLengths, int[] offsets, long length, DataType type) {
        int half = rotaryDim / 2;
        int rowSize = (int) length * rotaryDim;
        double[] cos = new double[rowLengths.length * rowSize];
        double[] sin = new double[cos.length];
        for (int r = 0; r < rowLengths.length; r++) {
            double[] invFreq = rope.inverseFrequencies(rotaryDim, rowLengths[r]);
            for (int t = 0; t < length; t++) {
                for (int i = 0; i < half; i++) {
                    double angle = (offsets[r] + t) * invFreq[i];
                    for (int j : new int[] {i, i + half}) {
                        cos[r * rowSize + t * rotaryDim + j] = Math.cos(angle);
                        sin[r * rowSize + t * rotaryDim + j] = Math.sin(angle);
                    }
                }
            }
        }
        Shape shape = new Shape(rowLengths.length, length, 1, rotaryDim);
        return new NDArray[] {
            scope.create(cos, shape).toType(type, false),
            scope.create(sin, shape).toType(type, false)
        };
    }

    /** Rotates x [B, T, H, d_head] by position. */
    public NDArray apply(NDArray x, NDArray[] tables) {
        long dHead = x.getShape().get(3);
        NDArray rot = rotaryDim == dHead ? x : x.get(new NDIndex("..., :{}", rotaryDim));
        int half = rotaryDim / 2;
        NDArray first = rot.get(new NDIndex("..., :{}", half));
        NDArray second = rot.get(new NDIndex("..., {}:", half));
        NDArray rotatedHalf = second.neg().concat(first, -1);
        NDArray rotated = rot.mul(tables[0]).add(rotatedHalf.mul(tables[1]));
        return rotaryDim == dHead ? rotated : rotated.concat(x.get(new NDIndex("..., {}:", rotaryDim)), -1);
    }
}
