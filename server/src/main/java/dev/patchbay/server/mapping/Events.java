package dev.patchbay.server.mapping;

import dev.patchbay.operations.Accepted;
import dev.patchbay.proto.v1.Progress;
import dev.patchbay.proto.v1.Summary;

/** The events every operation tells, as the wire has them: Accepted, Progress and Summary. */
final class Events {
    private Events() {}

    /** {@code metric} may be null (an operation without one). */
    static dev.patchbay.proto.v1.Accepted accepted(String requestId, Accepted a, String metric) {
        var out = dev.patchbay.proto.v1.Accepted.newBuilder()
                .setRequestId(requestId)
                .setNodeCount(a.count())
                .setCountUnit(a.unit())
                .setPlannedForwardPasses(a.plannedForwardPasses())
                .setMethod(a.method())
                .setVariant(a.variant());
        if (metric != null) {
            out.setMetric(metric);
        }
        return out.build();
    }

    static Progress progress(String stage, long done, long total) {
        return Progress.newBuilder()
                .setStage(stage)
                .setDone(done)
                .setTotal(total)
                .build();
    }

    /**
     * The summary; NaN values (a metric or compute an operation does not measure) and a null metric are left unset.
     */
    static Summary summary(dev.patchbay.operations.Summary s, String metric) {
        Summary.Builder out = Summary.newBuilder()
                .setMethod(s.method())
                .setPairs(s.pairs())
                .setForwardPasses(s.cost().forwardPasses())
                .setWallSeconds(s.cost().wallSeconds())
                .setCacheHits(s.tally().cacheHits())
                .setCacheMisses(s.tally().cacheMisses())
                .setSharedBatches(s.tally().sharedBatches())
                .setMagnitudes(s.magnitudes());
        if (metric != null) {
            out.setMetric(metric);
        }
        if (!Double.isNaN(s.cleanMetric())) {
            out.setCleanMetric(s.cleanMetric());
        }
        if (!Double.isNaN(s.noiseMetric())) {
            out.setNoiseMetric(s.noiseMetric());
        }
        if (!Double.isNaN(s.cost().computeEquivalents())) {
            out.setComputeForwardEquivalents(s.cost().computeEquivalents());
        }
        return out.build();
    }
}
