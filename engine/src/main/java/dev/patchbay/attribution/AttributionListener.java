package dev.patchbay.attribution;

import dev.patchbay.nodes.EffectBlock;

/** Receives a method's results as they are computed, so a caller can stream them. */
public interface AttributionListener {
    AttributionListener NONE = new AttributionListener() {};

    /** A finished block of node effects (final: it will not be sent again). */
    default void onBlock(EffectBlock block) {}

    /** Work done so far, in the method's own units (e.g. patched runs), out of {@code total}. */
    default void onProgress(long done, long total) {}
}
