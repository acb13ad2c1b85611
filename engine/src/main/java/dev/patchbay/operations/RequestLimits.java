package dev.patchbay.operations;

/**
 * What a front end lets one request ask for, as operations plan against it.
 *
 * @param maxPatchedRuns forward passes (patched runs, circuit runs, generation steps) one request may plan
 * @param maxPairs prompt pairs (or prompts, or contrastive pairs) in one request
 * @param maxTokens tokens in one sequence (a prompt, or a prompt and what generation adds to it)
 * @param batchRows rows in one batched pass, before the memory budget shrinks it
 */
public record RequestLimits(long maxPatchedRuns, int maxPairs, int maxTokens, int batchRows) {
    public RequestLimits {
        if (maxPatchedRuns < 1 || maxPairs < 1 || maxTokens < 1 || batchRows < 1) {
            throw new IllegalArgumentException("request limits must be positive");
        }
    }

    /** No limit but the batch size: for in-process use, where the caller owns the machine. */
    public static RequestLimits unlimited(int batchRows) {
        return new RequestLimits(Long.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, batchRows);
    }
}
