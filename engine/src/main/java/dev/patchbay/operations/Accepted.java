package dev.patchbay.operations;

/**
 * What an operation tells first, once its plan is made and before any pass runs.
 *
 * @param count what the operation scores or runs, in its own unit (nodes, edges, circuits, samples, prompts)
 * @param plannedForwardPasses the plan's cost in the paper's unit, the one plan the limit check also used
 * @param method the method or operation, by its short name
 */
public record Accepted(long count, double plannedForwardPasses, String method) {}
