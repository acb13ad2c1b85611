package dev.patchbay.server.config;

import dev.patchbay.operations.RequestLimits;

/**
 * What one request may ask for; a request over a limit gets RESOURCE_EXHAUSTED.
 *
 * @param maxRequestBytes the largest request message
 * @param maxPairs prompt pairs in one request
 * @param maxTokens tokens in one prompt
 * @param maxPatchedRuns patched runs (nodes times pairs) one activation-patching request may plan
 * @param maxConcurrentJobs requests (sweep jobs included) running at once
 * @param sweepWindow jobs of one sweep running at once; more are read from the stream as these finish
 * @param maxTextChars characters in one text to tokenize (a prompt, an answer, a Tokenize request), checked
 *     before tokenizing: tokenizing megabytes held a transport thread for seconds
 */
public record ServerLimits(
        int maxRequestBytes,
        int maxPairs,
        int maxTokens,
        long maxPatchedRuns,
        int maxConcurrentJobs,
        int sweepWindow,
        int maxTextChars) {
    /** These limits with another sweep window. */
    public ServerLimits withSweepWindow(int window) {
        return new ServerLimits(
                maxRequestBytes, maxPairs, maxTokens, maxPatchedRuns, maxConcurrentJobs, window, maxTextChars);
    }

    /** What operations plan a request against: these limits, and batches of {@code batchRows} rows. */
    public RequestLimits forRequests(int batchRows) {
        return new RequestLimits(maxPatchedRuns, maxPairs, maxTokens, batchRows);
    }

    public static ServerLimits defaults() {
        // 64 Ki characters is 32 per token for a prompt of the 2048 tokens allowed. A sweep window of 32 is the
        // default batch's rows: a sweep of single-pair jobs can fill a batch (a window of 8 capped them at 8 pairs).
        return new ServerLimits(16 << 20, 4096, 2048, 2_000_000, 64, 32, 64 << 10);
    }
}
