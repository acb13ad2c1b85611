package dev.patchbay.operations;

import dev.patchbay.nodes.Cost;
import dev.patchbay.passes.PassTally;

/**
 * What an operation tells last: its method, the pairs, the clean and noise metrics (NaN where it has none), its
 * cost, and what its passes did (cache use, shared batches).
 */
public record Summary(String method, int pairs, double cleanMetric, double noiseMetric, Cost cost, PassTally tally) {}
