package dev.patchbay.operations;

/**
 * What an operation tells first, once its plan is made and before any pass runs.
 *
 * @param count what the operation scores or runs, in {@code unit}
 * @param unit what {@code count} counts: "nodes", "edges", "groups", "circuits", "points" (of a prune curve),
 *     "samples", "prompts"; empty where nothing is counted
 * @param plannedForwardPasses the plan's cost in the paper's unit, the one plan the limit check also used
 * @param method the method or operation, by its short name
 * @param variant how the plan runs the method where it had a choice, and why (per-layer recomputation where the
 *     plain pass would not fit the memory budget); empty for the plain pass
 */
public record Accepted(long count, String unit, double plannedForwardPasses, String method, String variant) {
    public Accepted {
        variant = variant == null ? "" : variant;
    }

    /** The plain pass: no variant to report. */
    public Accepted(long count, String unit, double plannedForwardPasses, String method) {
        this(count, unit, plannedForwardPasses, method, "");
    }
}
