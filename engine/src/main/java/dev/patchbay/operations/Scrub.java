package dev.patchbay.operations;

import dev.patchbay.attribution.CausalScrubbing;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.List;

/**
 * Causal scrubbing: checks a hypothesis (which parts carry which labels) by resampling each claimed part among
 * inputs with the same label, and gives the fraction of the behaviour it recovers. The Scrub use-case and
 * {@code patchbay scrub}.
 */
public final class Scrub {
    /** Samples drawn when a request gives none: enough for a confidence interval of a few points. */
    public static final int DEFAULT_SAMPLES = 200;

    /** The operation's name in events. */
    public static final String METHOD = "causal-scrubbing";

    private Scrub() {}

    /**
     * A scrubbing request. Only the pairs' clean prompts are read.
     *
     * @param samples at least 2; 0 takes {@link #DEFAULT_SAMPLES}
     */
    public record Request(List<PromptPair> pairs, List<CausalScrubbing.Claim> claims, int samples, long seed) {
        public Request {
            pairs = List.copyOf(pairs);
            claims = List.copyOf(claims);
        }
    }

    /** A checked request: the hypothesis checked against the model and the pairs, the samples resolved. */
    public record Plan(Request request, CausalScrubbing.Hypothesis hypothesis, int samples, int rows) {
        public double plannedRuns() {
            return (double) samples * hypothesis.runsPerSample()
                    + request.pairs().size();
        }

        /**
         * With no claims every path is resampled, so the scrubbed metric is a random input's: the baseline, which a
         * researcher may want, or a forgotten field; Accepted says which it is instead of refusing it.
         */
        public Accepted accepted() {
            String variant = request.claims().isEmpty()
                    ? "no claims: every path is resampled, so the scrubbed metric is a random input's (the baseline)"
                    : "";
            return new Accepted(samples, "samples", plannedRuns(), METHOD, variant);
        }
    }

    /** What the operation tells as it runs, in order. */
    public interface Events {
        void accepted(Accepted accepted);

        void sample(CausalScrubbing.Sample sample);

        void progress(long done, long total);

        void result(CausalScrubbing.Result result);

        void summary(Summary summary);
    }

    public static Plan plan(Request request, Serving on) {
        List<PromptPair> pairs = request.pairs();
        if (pairs.size() < 2) {
            throw InvalidRequest.invalid("pairs: causal scrubbing resamples among inputs; give at least two");
        }
        if (request.samples() < 0 || request.samples() == 1) {
            throw InvalidRequest.invalid("samples: at least 2, for a confidence interval (0 takes " + DEFAULT_SAMPLES
                    + "), got " + request.samples());
        }
        int samples = request.samples() == 0 ? DEFAULT_SAMPLES : request.samples();
        Checks.headWrites(on);
        CausalScrubbing.Hypothesis hypothesis;
        try {
            hypothesis = CausalScrubbing.Hypothesis.of(on.config(), pairs, request.claims());
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.invalid(e.getMessage());
        }
        Plan plan = new Plan(request, hypothesis, samples, Checks.patchRows(on, pairs));
        Checks.withinRuns(
                plan.plannedRuns(),
                "samples: " + samples + " samples of " + hypothesis.runsPerSample()
                        + " model runs each exceed the server's limit of "
                        + on.limits().maxPatchedRuns()
                        + " runs; draw fewer samples",
                on);
        return plan;
    }

    public static CausalScrubbing.Result run(PassRunner runner, Plan plan, Events events) {
        long start = System.nanoTime();
        Request request = plan.request();
        events.accepted(plan.accepted());
        CausalScrubbing.Result result;
        try (CausalScrubbing scrubbing = new CausalScrubbing(runner, request.pairs(), plan.hypothesis(), plan.rows())) {
            int[] done = {0};
            result = scrubbing.run(plan.samples(), request.seed(), s -> {
                events.sample(s);
                if (++done[0] % 16 == 0 || done[0] == plan.samples()) {
                    events.progress(done[0], plan.samples());
                }
            });
        }
        events.result(result);
        // The cost in the paper's unit: each model run counts as a forward pass (a tree's inner nodes stop at their
        // writer's layer, so this overstates the compute).
        events.summary(new Summary(
                METHOD,
                request.pairs().size(),
                result.original(),
                Double.NaN,
                new Cost(result.runs(), Double.NaN, (System.nanoTime() - start) / 1e9),
                runner.tally()));
        return result;
    }
}
