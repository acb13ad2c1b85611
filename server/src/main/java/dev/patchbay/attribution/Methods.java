package dev.patchbay.attribution;

import java.util.List;

/** The attribution methods by their short names. */
public final class Methods {
    public static final List<String> IDS = List.of("ap", "atp", "atp-qk", "atp-star");

    private Methods() {}

    /**
     * @param patchRows patched runs per forward pass (activation patching)
     * @param pairRows prompt pairs per batch (the AtP family)
     */
    public static AttributionMethod byId(String id, int patchRows, int pairRows) {
        return switch (id) {
            case "ap" -> new ActivationPatching(patchRows);
            case "atp" -> new AtP(false, pairRows);
            case "atp-qk" -> new AtP(true, pairRows);
            case "atp-star" -> new AtPStar(pairRows);
            default -> throw new IllegalArgumentException("method: unknown '" + id + "'; known are " + IDS);
        };
    }
}
