package dev.patchbay.operations;

import dev.patchbay.nodes.Cost;
import dev.patchbay.passes.PassTally;

/**
 * What an operation tells last: its method, the pairs (or prompts), the clean and noise metrics, its cost, and what
 * its passes did (cache use, shared batches). NaN marks what an operation does not measure: a metric it has none of
 * (generation, patching), or compute equivalents it does not count (circuits, scrubbing, generation).
 *
 * @param magnitudes whether the scores an attribution streamed are magnitudes (never negative, no sign: AtP*, or a
 *     mean |estimate| over a distribution) rather than signed changes of the metric; false for every other operation
 */
public record Summary(
        String method,
        int pairs,
        double cleanMetric,
        double noiseMetric,
        Cost cost,
        PassTally tally,
        boolean magnitudes) {
    /** An operation's summary with no attribution scores. */
    public Summary(String method, int pairs, double cleanMetric, double noiseMetric, Cost cost, PassTally tally) {
        this(method, pairs, cleanMetric, noiseMetric, cost, tally, false);
    }
}
