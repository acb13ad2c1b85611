package dev.patchbay.operations;

/**
 * The false-negative diagnostic as a request asks for it; zeros take the defaults of
 * {@link dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic.Settings}.
 *
 * @param threshold the effect a missed item must reach to count; 0 takes a tenth of the largest verified effect
 */
public record DiagnosticOptions(
        boolean enabled, int samples, double inclusionProbability, double alpha, double threshold, long seed) {
    public static final DiagnosticOptions OFF = new DiagnosticOptions(false, 0, 0, 0, 0, 0);

    /** On, with every default. */
    public static final DiagnosticOptions DEFAULTS = new DiagnosticOptions(true, 0, 0, 0, 0, 0);
}
