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

    /**
     * Reads a model's rotary settings: {@code section} is a {@code rope_parameters} object (transformers 5) or
     * {@code rope_scaling} (older configs), or null for plain rotary; theta comes from the section, else from
     * the config's {@code rope_theta}, else {@code defaultTheta}.
     *
     * @param where the key the section was read from, for error messages
     */
    static RopeParameters read(ConfigValues config, ConfigValues section, String where, double defaultTheta) {
        double theta = section != null && section.has("rope_theta")
                ? section.number("rope_theta", defaultTheta)
                : config.number("rope_theta", defaultTheta);
        String type = "default";
        if (section != null) {
            type = section.has("rope_type")
                    ? section.string("rope_type")
                    : section.has("type") ? section.string("type") : type;
        }
        if (!TYPES.contains(type)) {
            throw config.invalid("unsupported " + where + ".rope_type \"" + type + "\"; supported are "
                    + String.join(", ", TYPES.stream().sorted().toList()));
        }
        int maxPositions = config.integer("max_position_embeddings", 0);
        return switch (type) {
            case "linear", "dynamic" ->
                new RopeParameters(type, theta, positive(config, section, where, "factor"), 1, 1, 0, maxPositions);
            case "llama3" -> {
                double low = positive(config, section, where, "low_freq_factor");
                double high = positive(config, section, where, "high_freq_factor");
                if (high <= low) {
                    throw config.invalid(
                            where + ".high_freq_factor (" + high + ") must exceed low_freq_factor (" + low + ")");
                }
                yield new RopeParameters(
                        type,
                        theta,
                        positive(config, section, where, "factor"),
                        low,
                        high,
                        section.integer("original_max_position_embeddings", maxPositions),
                        maxPositions);
            }
            default -> unscaled(theta);
        };
    }

    /** The rope section of a config ({@code rope_parameters}, else {@code rope_scaling}), or null. */
    static ConfigValues section(ConfigValues config) {
        for (String key : new String[] {"rope_parameters", "rope_scaling"}) {
            if (config.has(key)) {
                return config.object(key);
            }
        }
        return null;
    }

    /** The key {@link #section} read, for error messages. */
    static String sectionKey(ConfigValues config) {
        return config.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
    }

    private static double positive(ConfigValues config, ConfigValues section, String where, String key) {
        double value = section.number(key, Double.NaN);
        if (!(value > 0)) {
            throw config.invalid(where + "." + key + " must be a positive number");
        }
        return value;
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
