package dev.patchbay.nodes;

/**
 * What a method spent.
 *
 * @param forwardPasses model passes in the paper's unit: a forward pass counts 1, a backward pass 2, and
 *     every patched run counts 1 even when it resumes from a cached layer
 * @param computeEquivalents the compute actually done, in full forward passes: a run resumed at layer l of L
 *     counts (L - l) / L, and a backward pass through k of L layers 2k / L
 * @param wallSeconds elapsed time
 */
public record Cost(double forwardPasses, double computeEquivalents, double wallSeconds) {
    /** Nothing spent. */
    public static final Cost NONE = new Cost(0, 0, 0);

    public Cost plus(Cost other) {
        return new Cost(
                forwardPasses + other.forwardPasses,
                computeEquivalents + other.computeEquivalents,
                wallSeconds + other.wallSeconds);
    }
}
