package dev.patchbay.operations;

import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.baselines.Subsampling;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.CircuitBatch;
import dev.patchbay.passes.EdgeEstimate;
import java.util.List;
import java.util.Locale;

/** The checks and sizes more than one operation shares; each refuses with the field's name. */
final class Checks {
    private Checks() {}

    /** The value, refused with the field's name if it is NaN or infinite. */
    static double finite(double value, String field) {
        if (!Double.isFinite(value)) {
            throw InvalidRequest.invalid(field + ": must be a finite number, got " + value);
        }
        return value;
    }

    /** The number of prompts or pairs ({@code field}, each a {@code what}), refused when none or over the limit. */
    static void count(int count, String field, String what, Serving on) {
        if (count == 0) {
            throw InvalidRequest.invalid(field + ": at least one " + what + " is needed");
        }
        if (count > on.limits().maxPairs()) {
            throw InvalidRequest.tooLarge(field + ": " + count + " " + field + " exceed the server's limit of "
                    + on.limits().maxPairs());
        }
    }

    /** Refuses a plan of more runs than the limit, with {@code message} saying what to change. */
    static void withinRuns(double runs, String message, Serving on) {
        if (runs > on.limits().maxPatchedRuns()) {
            throw InvalidRequest.tooLarge(message);
        }
    }

    /**
     * Rows of a forward pass at these pairs' length within the batch limit and the model's memory budget; refuses
     * the request when not even one fits.
     */
    static int patchRows(Serving on, List<PromptPair> pairs) {
        int length = pairs.get(0).length();
        int fit = on.budget().forwardRowsFitting(length);
        if (fit < 1) {
            throw overBudget(on, length, on.budget().forwardRowBytes(length), "a forward pass");
        }
        return Math.min(on.limits().batchRows(), fit);
    }

    /** Pairs of an AtP-family pass within the batch limit and the memory budget; refuses when none fits. */
    static int gradientRows(Serving on, List<PromptPair> pairs, String method, boolean qkFix, boolean gradDrop) {
        int length = pairs.get(0).length();
        int fit = on.budget().gradientRowsFitting(length, qkFix, gradDrop);
        if (fit < 1) {
            throw overBudget(
                    on,
                    length,
                    on.budget().gradientRowBytes(length, qkFix, gradDrop),
                    method + "'s forward and backward" + (qkFix ? " with the QK fix" : ""));
        }
        return Math.min(on.limits().batchRows(), fit);
    }

    /** Pairs of a pass of {@code rowBytes} a pair, within the batch limit and the memory budget; refuses when none fits. */
    static int rowsFitting(Serving on, List<PromptPair> pairs, long rowBytes, String pass) {
        int fit = on.budget().rowsFitting(rowBytes);
        if (fit < 1) {
            throw overBudget(on, pairs.get(0).length(), rowBytes, pass);
        }
        return Math.min(on.limits().batchRows(), fit);
    }

    /** Pairs of an AtP-family pass run with per-layer recomputation, within the batch limit and the memory budget. */
    static int layerwiseGradientRows(
            Serving on,
            List<PromptPair> pairs,
            String method,
            boolean qkFix,
            boolean gradDrop,
            boolean perPosition,
            boolean keepQkTables) {
        int length = pairs.get(0).length();
        int fit = on.budget().layerwiseGradientRowsFitting(length, qkFix, gradDrop, perPosition, keepQkTables);
        if (fit < 1) {
            throw overBudget(
                    on,
                    length,
                    on.budget().layerwiseGradientRowBytes(length, qkFix, gradDrop, perPosition, keepQkTables),
                    method + " with per-layer recomputation" + (qkFix ? " and the QK fix" : ""));
        }
        return Math.min(on.limits().batchRows(), fit);
    }

    /**
     * How an edge method's passes run: pairs per pass, whether each layer is recomputed in the backward, and what
     * Accepted says of that choice (empty for the plain pass).
     */
    record EdgePasses(int rows, boolean recomputeLayers, String variant) {}

    /**
     * Plans an edge method's passes within the memory budget: an estimate recomputes each layer where the request
     * asks, or where one pair of the plain pass would not fit and a recomputed one holds less; where nothing fits, the
     * refusal names the smallest budget that would run the request. Exact patching runs forwards only (all rows) and refuses recomputation.
     */
    static EdgePasses edgePasses(
            Serving on,
            List<PromptPair> pairs,
            EdgeAttribution.Method method,
            int steps,
            boolean perPosition,
            boolean askRecompute) {
        EdgeEstimate estimate = method.estimate();
        if (estimate == null) {
            if (askRecompute) {
                throw InvalidRequest.invalid("recompute_layers: exact edge patching runs no backward to recompute;"
                        + " eap, eap-ig and atp-star run with per-layer recomputation");
            }
            return new EdgePasses(on.limits().batchRows(), false, "");
        }
        // Pairs of different lengths run padded to the longest.
        int length = pairs.stream().mapToInt(PromptPair::length).max().orElse(1);
        Budget budget = on.budget();
        long plain = budget.edgeRowBytes(length, estimate, steps);
        long recomputed = budget.layerwiseEdgeRowBytes(length, estimate, steps, perPosition);
        boolean recompute = askRecompute || (budget.rowsFitting(plain) < 1 && recomputed < plain);
        long row = recompute ? recomputed : plain;
        int fit = budget.rowsFitting(row);
        if (fit < 1) {
            // The smallest budget that runs it: the recomputed pass's where it is asked for or holds less.
            boolean named = askRecompute || recomputed < plain;
            throw overBudget(
                    on,
                    length,
                    named ? recomputed : plain,
                    method.id() + (named ? " with per-layer recomputation" : ""));
        }
        String variant = "";
        if (askRecompute) {
            variant = "per-layer recomputation (asked for)";
        } else if (recompute) {
            variant = String.format(
                    Locale.ROOT,
                    "per-layer recomputation: one pair of the plain pass needs about %.2f GB, over the memory budget"
                            + " of %.2f GB; recomputed, about %.2f GB",
                    plain / 1e9,
                    budget.bytes() / 1e9,
                    recomputed / 1e9);
        }
        return new EdgePasses(Math.min(on.limits().batchRows(), fit), recompute, variant);
    }

    /** Circuit runs per batch: as many rows of {@link CircuitBatch} as fit the budget (at least one, else refused). */
    static int circuitRows(Serving on, List<PromptPair> pairs, int writers) {
        int length = pairs.get(0).length();
        long row = CircuitBatch.rowBytes(on.config(), on.budget().elementBytes(), writers, length);
        int fit = on.budget().rowsFitting(row);
        if (fit < 1) {
            throw overBudget(on, length, row, "a circuit run");
        }
        return Math.min(on.limits().batchRows(), fit);
    }

    private static InvalidRequest overBudget(Serving on, int length, long rowBytes, String pass) {
        return InvalidRequest.tooLarge(String.format(
                Locale.ROOT,
                "pairs: one prompt of %d tokens needs about %.2f GB for %s, over the server's memory budget of"
                        + " %.2f GB per batch; a --memory-budget of at least %.2f GB would run it, or use shorter"
                        + " prompts",
                length,
                rowBytes / 1e9,
                pass,
                on.budget().bytes() / 1e9,
                Math.ceil(rowBytes / 1e7) / 100));
    }

    /**
     * Refuses KL divergence with an estimate taken at the clean run: KL(clean || run) is 0 there and at its minimum,
     * so its gradient is zero and every estimate would be 0 (accepted before, it answered all zeros).
     */
    static void gradientMetric(List<PromptPair> pairs, String methodId) {
        if (pairs.stream().anyMatch(p -> p.metric().kind() == Metric.Kind.KL_DIVERGENCE)) {
            throw InvalidRequest.invalid("metric: kl_divergence has zero gradient at the clean run, so " + methodId
                    + "'s estimates would all be 0; use activation patching (or exact edges, or EAP-IG), or a logit"
                    + " difference or log-probability metric");
        }
    }

    /** EAP-IG's steps: 0 takes the default, at most {@link EdgeRanking#MAX_IG_STEPS}. */
    static int igSteps(int steps) {
        return igSteps(steps, EdgeAttribution.Settings.DEFAULT_IG_STEPS);
    }

    /** Integrated gradients' steps: 0 takes {@code fallback}, at most {@link EdgeRanking#MAX_IG_STEPS}. */
    static int igSteps(int steps, int fallback) {
        if (steps < 0 || steps > EdgeRanking.MAX_IG_STEPS) {
            throw InvalidRequest.invalid(
                    "ig_steps: between 1 and " + EdgeRanking.MAX_IG_STEPS + " (0 takes the default), got " + steps);
        }
        return steps == 0 ? fallback : steps;
    }

    /** How many top items verification patches: verify_top_k, capped by the items and by verify_budget. */
    static long verifyCount(int topK, double budget, long count, List<PromptPair> pairs) {
        if (topK < 0) {
            throw InvalidRequest.invalid("verify_top_k: must not be negative, got " + topK);
        }
        // NaN would compare false below and read as "no cap".
        if (finite(budget, "verify_budget") < 0) {
            throw InvalidRequest.invalid("verify_budget: must not be negative, got " + budget);
        }
        long verify = Math.min(count, topK);
        if (budget > 0) {
            // Each verified item costs one run per pair, after every pair's clean and noise runs.
            verify = Math.min(verify, Math.max(0, (long) Math.floor(budget / pairs.size()) - 2));
            if (verify == 0 && topK > 0 && count > 0) {
                // Accepted before, it verified nothing and said nothing.
                throw InvalidRequest.invalid(String.format(
                        Locale.ROOT,
                        "verify_budget: %s forward passes verify nothing: each of %d pairs takes its clean and noise"
                                + " runs first, so at least %d are needed for one item (0 for no cap)",
                        budget,
                        pairs.size(),
                        3L * pairs.size()));
            }
        }
        return verify;
    }

    /** The diagnostic's settings, or null when it is off; {@code what} names the items ("nodes", "edges"). */
    static FalseNegativeDiagnostic.Settings diagnostic(
            DiagnosticOptions d, long verify, long count, List<PromptPair> pairs, String what, Serving on) {
        if (d == null || !d.enabled()) {
            return null;
        }
        if (verify == 0) {
            throw InvalidRequest.invalid("diagnostic: needs verification (verify_top_k > 0, and a verify_budget"
                    + " that allows it): it bounds the " + what + " left unverified");
        }
        // Zero takes the default; NaN and infinities are refused, never read as "no limit".
        double inclusion = finite(d.inclusionProbability(), "diagnostic.inclusion_probability");
        double alpha = finite(d.alpha(), "diagnostic.alpha");
        if (d.samples() < 0) {
            throw InvalidRequest.invalid(
                    "diagnostic.samples: must not be negative (zero takes the default), got " + d.samples());
        }
        double threshold = finite(d.threshold(), "diagnostic.threshold");
        FalseNegativeDiagnostic.Settings settings;
        try {
            settings = new FalseNegativeDiagnostic.Settings(
                    d.samples() > 0 ? d.samples() : FalseNegativeDiagnostic.Settings.DEFAULT_SAMPLES,
                    inclusion != 0 ? inclusion : FalseNegativeDiagnostic.Settings.DEFAULT_INCLUSION,
                    alpha != 0 ? alpha : FalseNegativeDiagnostic.Settings.DEFAULT_ALPHA,
                    threshold,
                    d.seed());
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.invalid(e.getMessage());
        }
        inclusion(count - verify, settings.inclusionProbability(), "diagnostic.inclusion_probability");
        withinRuns(
                (double) settings.samples() * pairs.size(),
                "diagnostic.samples: " + settings.samples() + " runs for each of " + pairs.size()
                        + " pairs exceed the server's limit of " + on.limits().maxPatchedRuns(),
                on);
        return settings;
    }

    /** Refuses an inclusion probability that would leave Subsampling's random subsets empty (and loop). */
    static void inclusion(long items, double p, String field) {
        if (items <= 0) {
            return;
        }
        try {
            Subsampling.checkInclusion(items, p);
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.invalid(field + ": " + e.getMessage());
        }
    }

    /** What circuits need of a request: pairs, of one length, enough for the ablation, on a model with head writes. */
    static void circuitRequest(List<PromptPair> pairs, Ablation ablation, Serving on) {
        if (pairs.isEmpty()) {
            throw InvalidRequest.invalid("pairs: at least one prompt pair is needed");
        }
        circuitPairs(ablation, pairs);
        headWrites(on);
    }

    /** Circuits and scrubbing ablate heads' edges: each head needs a write of its own. */
    static void headWrites(Serving on) {
        if (!on.model().headWritesAdd()) {
            throw InvalidRequest.invalid(on.config().architecture().modelType()
                    + " normalizes the attention output after the heads are summed: a head has no write of its own");
        }
    }

    /** Circuits need pairs of one length, and resampling needs at least two pairs to draw from. */
    private static void circuitPairs(Ablation ablation, List<PromptPair> pairs) {
        for (int i = 0; i < pairs.size(); i++) {
            if (pairs.get(i).length() != pairs.get(0).length()) {
                throw InvalidRequest.invalid("pairs[" + i + "]: circuits need pairs of one length ("
                        + pairs.get(0).length() + " tokens), this one has "
                        + pairs.get(i).length());
            }
        }
        if (ablation == Ablation.RESAMPLE && pairs.size() < 2) {
            throw InvalidRequest.invalid("ablation: resample draws from other pairs; give at least two pairs");
        }
    }
}
