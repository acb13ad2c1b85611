package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Rotary position embedding in the "rotate half" convention of GPT-NeoX and Llama, on the first
 * {@code rotaryDim} dimensions of each head (all of them for Llama, a fraction for Pythia).
 */
final class Rotary {
    private final int rotaryDim;
    private final double theta;

    Rotary(int rotaryDim, double theta) {
        this.rotaryDim = rotaryDim;
        this.theta = theta;
    }

    /** cos and sin tables [1, T, 1, rotaryDim], computed in double precision. */
    NDArray[] tables(NDManager scope, long length, DataType type) {
        int half = rotaryDim / 2;
        double[] cos = new double[(int) length * rotaryDim];
        double[] sin = new double[cos.length];
        for (int t = 0; t < length; t++) {
            for (int i = 0; i < half; i++) {
                double invFreq = 1.0 / Math.pow(theta, (2.0 * i) / rotaryDim);
                double angle = t * invFreq;
                for (int j : new int[] {i, i + half}) {
                    cos[t * rotaryDim + j] = Math.cos(angle);
                    sin[t * rotaryDim + j] = Math.sin(angle);
                }
            }
        }
        Shape shape = new Shape(1, length, 1, rotaryDim);
        return new NDArray[] {
            scope.create(cos, shape).toType(type, false),
            scope.create(sin, shape).toType(type, false)
        };
    }

    /** Rotates x [B, T, H, d_head] by position. */
    NDArray apply(NDArray x, NDArray[] tables) {
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
