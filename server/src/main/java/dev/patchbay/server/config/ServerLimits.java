package dev.patchbay.server.config;

/**
 * What one request may ask for; a request over a limit gets RESOURCE_EXHAUSTED.
 *
 * @param maxRequestBytes the largest request message
 * @param maxPairs prompt pairs in one request
 * @param maxTokens tokens in one prompt
 * @param maxPatchedRuns patched runs (nodes times pairs) one activation-patching request may plan
 * @param maxConcurrentJobs requests (sweep jobs included) running at once
 * @param sweepWindow jobs of one sweep running at once; more are read from the stream as these finish
 */
public record ServerLimits(
        int maxRequestBytes, int maxPairs, int maxTokens, long maxPatchedRuns, int maxConcurrentJobs, int sweepWindow) {
    public static ServerLimits defaults() {
        return new ServerLimits(16 << 20, 4096, 2048, 2_000_000, 64, 8);
    }
}
