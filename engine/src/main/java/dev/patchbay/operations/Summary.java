package dev.patchbay.operations;

import dev.patchbay.nodes.Cost;
import dev.patchbay.passes.PassTally;

/**
 * What an operation tells last: its method, the pairs (or prompts), the clean and noise metrics, its cost, and what
 * its passes did (cache use, shared batches). NaN marks what an operation does not measure: a metric it has none of
 * (generation, patching), or compute equivalents it does not count (circuits, scrubbing, generation).
 */
public record Summary(String method, int pairs, double cleanMetric, double noiseMetric, Cost cost, PassTally tally) {}
