package dev.patchbay.passes;

import dev.patchbay.nodes.PromptPair;
import java.util.List;

/**
 * A batch of pairs whose edges are estimated together.
 *
 * @param igSteps interpolation steps for EAP-IG (ignored otherwise)
 * @param perPosition whether each edge is one position (every pair then has one length) or all positions at once
 */
public record EdgeWork(List<PromptPair> pairs, EdgeEstimate estimate, int igSteps, boolean perPosition) {
    public EdgeWork {
        pairs = List.copyOf(pairs);
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("pairs: at least one prompt pair is needed");
        }
        if (estimate.integrated() && igSteps < 1) {
            throw new IllegalArgumentException("ig_steps must be at least 1, got " + igSteps);
        }
    }
}
