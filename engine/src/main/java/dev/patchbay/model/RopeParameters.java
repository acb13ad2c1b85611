package dev.patchbay.model;

import java.util.Set;

/**
 * The frequencies of rotary position embedding, as transformers' {@code rope_parameters} (or the older
 * {@code rope_scaling} with a top-level {@code rope_theta}) define them. Four kinds, each computed as
 * transformers' modeling_rope_utils does:
 *
 * <ul>
 *   <li>{@code default}: inverse frequency theta^(-2i/d) for dimension pair i of d rotated dimensions;
 *   <li>{@code linear}: every frequency divided by {@code factor} (position interpolation);
 *   <li>{@code dynamic}: NTK scaling, only for a pass longer than {@code maxPositions}, where theta grows to
 *       theta * (factor * T / maxPositions - (factor - 1))^(d / (d - 2));
 *   <li>{@code llama3}: Llama 3.1's piecewise rule: wavelengths shorter than originalMax / highFreqFactor keep
 *       their frequency, longer than originalMax / lowFreqFactor are divided by factor, and those between are
 *       interpolated smoothly.
 * </ul>
 *
 * The others (yarn, longrope) also scale cos and sin by an attention factor; they are refused rather than run
 * wrong.
 */
public record RopeParameters(
        String type,
        double theta,
        double factor,
        double lowFreqFactor,
        double highFreqFactor,
        int originalMaxPositions,
        int maxPositions) {

    static final Set<String> TYPES = Set.of("default", "linear", "dynamic", "llama3");

    public static RopeParameters unscaled(double theta) {
        return new RopeParameters("default", theta, 1, 1, 1, 0, 0);
    }

    /** Whether a pass of {@code length} tokens has frequencies of its own (dynamic scaling beyond maxPositions). */
    boolean dependsOnLength(long length) {
        return type.equals("dynamic") && maxPositions > 0 && length > maxPositions;
    }

    /** The inverse frequency of each of the rotaryDim / 2 dimension pairs, for a pass of {@code length}. */
    double[] inverseFrequencies(int rotaryDim, long length) {
        double base = theta;
        if (dependsOnLength(length)) {
            base = theta * Math.pow(factor * length / maxPositions - (factor - 1), rotaryDim / (rotaryDim - 2.0));
        }
        double[] inv = new double[rotaryDim / 2];
        for (int i = 0; i < inv.length; i++) {
            double f = 1.0 / Math.pow(base, (2.0 * i) / rotaryDim);
            inv[i] = switch (type) {
                case "linear" -> f / factor;
                case "llama3" -> llama3(f);
                default -> f;
            };
        }
        return inv;
    }

    private double llama3(double f) {
        double wavelength = 2 * Math.PI / f;
        double lowFreqWavelength = originalMaxPositions / lowFreqFactor;
        double highFreqWavelength = originalMaxPositions / highFreqFactor;
        if (wavelength < highFreqWavelength) {
            return f;
        }
        if (wavelength > lowFreqWavelength) {
            return f / factor;
        }
        double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return (1 - smooth) * f / factor + smooth * f;
    }
}
