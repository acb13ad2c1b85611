package dev.patchbay.passes;

import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.PromptPair;
import java.util.List;

/**
 * A batch of pairs whose edges are estimated together ({@link EdgeEstimator}), as a pass of its own: never merged,
 * since its settings are per request.
 *
 * @param igSteps interpolation steps for EAP-IG (ignored otherwise)
 * @param perPosition whether each edge is one position (every pair then has one length) or all positions at once
 */
public record EdgeWork(List<PromptPair> pairs, EdgeEstimate estimate, int igSteps, boolean perPosition)
        implements Pass<EdgeEstimates> {
    public EdgeWork {
        pairs = List.copyOf(pairs);
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("pairs: at least one prompt pair is needed");
        }
        if (estimate.integrated() && igSteps < 1) {
            throw new IllegalArgumentException("ig_steps must be at least 1, got " + igSteps);
        }
    }

    @Override
    public int rowCount() {
        return pairs.size();
    }

    @Override
    public int length() {
        return pairs.stream().mapToInt(PromptPair::length).max().orElse(1);
    }

    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        return pairs.size() * PassMemory.edgeRowBytes(config, paddedLength, elementBytes, estimate, igSteps);
    }

    @Override
    public EdgeEstimates run(PassContext context) {
        return EdgeEstimator.run(context.model(), this);
    }
}
