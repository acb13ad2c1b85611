package dev.patchbay.model;

/**
 * Reads a model's rotary settings from its config ({@code rope_parameters}, else {@code rope_scaling}, and
 * {@code rope_theta}), as transformers does: apart from {@link RopeParameters}, so that the runtime's values do not
 * reach the config reader.
 */
public final class RopeConfig {
    private RopeConfig() {}

    /** The model's rotary frequencies from {@code rope_parameters} or {@code rope_scaling} and {@code rope_theta}. */
    public static RopeParameters read(ConfigValues config, double defaultTheta) {
        return read(config, section(config), sectionKey(config), defaultTheta);
    }

    /**
     * Reads a model's rotary settings: {@code section} is a {@code rope_parameters} object (transformers 5) or
     * {@code rope_scaling} (older configs), or null for plain rotary; theta comes from the section, else from
     * the config's {@code rope_theta}, else {@code defaultTheta}.
     *
     * @param where the key the section was read from, for error messages
     */
    public static RopeParameters read(ConfigValues config, ConfigValues section, String where, double defaultTheta) {
        double theta = section != null && section.has("rope_theta")
                ? section.number("rope_theta", defaultTheta)
                : config.number("rope_theta", defaultTheta);
        String type = "default";
        if (section != null) {
            type = section.has("rope_type")
                    ? section.string("rope_type")
                    : section.has("type") ? section.string("type") : type;
        }
        if (!RopeParameters.TYPES.contains(type)) {
            throw config.invalid("unsupported " + where + ".rope_type \"" + type + "\"; supported are "
                    + String.join(", ", RopeParameters.TYPES.stream().sorted().toList()));
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
            default -> RopeParameters.unscaled(theta);
        };
    }

    /** The rope section of a config ({@code rope_parameters}, else {@code rope_scaling}), or null. */
    public static ConfigValues section(ConfigValues config) {
        for (String key : new String[] {"rope_parameters", "rope_scaling"}) {
            if (config.has(key)) {
                return config.object(key);
            }
        }
        return null;
    }

    /** The key {@link #section} read, for error messages. */
    public static String sectionKey(ConfigValues config) {
        return config.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
    }

    private static double positive(ConfigValues config, ConfigValues section, String where, String key) {
        double value = section.number(key, Double.NaN);
        if (!(value > 0)) {
            throw config.invalid(where + "." + key + " must be a positive number");
        }
        return value;
    }
}
