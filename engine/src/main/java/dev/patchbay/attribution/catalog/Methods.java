package dev.patchbay.attribution.catalog;

import dev.patchbay.attribution.ActivationPatching;
import dev.patchbay.attribution.AtP;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.attribution.baselines.Blocks;
import dev.patchbay.attribution.baselines.Hierarchical;
import dev.patchbay.attribution.baselines.Iterative;
import dev.patchbay.attribution.baselines.Subsampling;
import dev.patchbay.passes.Recomputation;
import java.util.List;

/** The attribution methods by their short names. */
public final class Methods {
    public static final List<String> IDS =
            List.of("ap", "atp", "atp-qk", "atp-star", "iterative", "subsampling", "blocks", "hierarchical");

    /** Subsampling's patched runs when a request gives none. */
    public static final int DEFAULT_SAMPLES = 256;

    /** Subsampling's inclusion probability when a request gives none. */
    public static final double DEFAULT_INCLUSION = 0.1;

    /** Blocks' nodes per block when a request gives none. */
    public static final int DEFAULT_BLOCK_SIZE = 16;

    /** Hierarchical's children per group when a request gives none. */
    public static final int DEFAULT_BRANCHING = 4;

    /** The baselines' settings; zeros take the defaults. */
    public record BaselineSettings(
            long seed, int samples, double inclusionProbability, int blockSize, int branching, long maxGroupPatches) {
        public static final BaselineSettings DEFAULTS = new BaselineSettings(0, 0, 0, 0, 0, 0);
    }

    private Methods() {}

    /**
     * @param patchRows patched runs per forward pass (activation patching and the baselines)
     * @param pairRows prompt pairs per batch (the AtP family)
     */
    public static AttributionMethod byId(String id, int patchRows, int pairRows) {
        return byId(id, patchRows, pairRows, BaselineSettings.DEFAULTS);
    }

    public static AttributionMethod byId(String id, int patchRows, int pairRows, BaselineSettings b) {
        return byId(id, patchRows, pairRows, b, Recomputation.NONE);
    }

    /**
     * @param recomputation the AtP family (AtP, AtP with the QK fix, AtP*) recompute each layer in the backward
     *     (the same estimates in one layer's graph of memory); no other method takes it
     */
    public static AttributionMethod byId(
            String id, int patchRows, int pairRows, BaselineSettings b, Recomputation recomputation) {
        if (recomputation.perLayer() && !id.startsWith("atp")) {
            throw new IllegalArgumentException(id + " has no per-layer recomputation");
        }
        return switch (id) {
            case "ap" -> new ActivationPatching(patchRows);
            case "atp" -> new AtP(false, pairRows, recomputation);
            case "atp-qk" -> new AtP(true, pairRows, recomputation);
            case "atp-star" -> new AtPStar(pairRows, recomputation);
            case "iterative" -> new Iterative(b.seed());
            case "subsampling" ->
                new Subsampling(
                        b.samples() > 0 ? b.samples() : DEFAULT_SAMPLES,
                        b.inclusionProbability() > 0 ? b.inclusionProbability() : DEFAULT_INCLUSION,
                        b.seed(),
                        patchRows);
            case "blocks" -> new Blocks(b.blockSize() > 0 ? b.blockSize() : DEFAULT_BLOCK_SIZE, patchRows);
            case "hierarchical" ->
                new Hierarchical(b.branching() > 0 ? b.branching() : DEFAULT_BRANCHING, b.maxGroupPatches(), patchRows);
            default -> throw new IllegalArgumentException("method: unknown '" + id + "'; known are " + IDS);
        };
    }
}
