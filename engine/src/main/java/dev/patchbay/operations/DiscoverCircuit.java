package dev.patchbay.operations;

import dev.patchbay.attribution.CircuitDiscovery;
import dev.patchbay.attribution.CircuitEvaluation;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.List;
import java.util.Locale;

/**
 * Finds a circuit: greedy from an edge ranking (the shortest prefix reaching a target faithfulness, then pruned), or
 * ACDC-style (every edge removed in turn unless the metric moves by more than a threshold), streaming every check.
 * The DiscoverCircuit use-case and {@code patchbay circuit --discover}.
 */
public final class DiscoverCircuit {
    /** The faithfulness greedy search stops at when a request gives none. */
    public static final double DEFAULT_TARGET = 0.9;

    /** How much an edge's removal may move ACDC's metric, as a fraction, when a request gives none. */
    public static final double DEFAULT_THRESHOLD = 0.01;

    /** How to search. */
    public enum Search {
        /** From a ranking: a prefix search to the target, then pruning. */
        GREEDY,
        /** ACDC-style: every edge tried for removal against a threshold. */
        ACDC
    }

    private DiscoverCircuit() {}

    /**
     * A discovery request; zeros and nulls take the defaults.
     *
     * @param target greedy's faithfulness in (0, 1]; 0 takes {@link #DEFAULT_TARGET}
     * @param threshold ACDC's threshold, not negative; 0 takes {@link #DEFAULT_THRESHOLD}
     */
    public record Request(
            List<PromptPair> pairs,
            Ablation ablation,
            long seed,
            Search search,
            EdgeRanking ranking,
            double target,
            double threshold) {
        public Request {
            pairs = List.copyOf(pairs);
            ablation = ablation == null ? EvaluateCircuit.DEFAULT_ABLATION : ablation;
            search = search == null ? Search.GREEDY : search;
            ranking = ranking == null ? EdgeRanking.DEFAULT : ranking;
        }
    }

    /** A checked request: the ranking's settings (null for ACDC), the target and threshold resolved. */
    public record Plan(Request request, EdgeAttribution.Settings ranking, double target, double threshold, int rows) {
        public String method() {
            return "discovery/"
                    + (ranking == null ? "acdc" : "greedy/" + ranking.method().id())
                    + "/"
                    + request.ablation().name().toLowerCase(Locale.ROOT);
        }

        public Accepted accepted() {
            return new Accepted(0, "", 0, method());
        }
    }

    /** What the operation tells as it runs, in order. */
    public interface Events {
        void accepted(Accepted accepted);

        void step(CircuitDiscovery.Step step);

        void found(CircuitDiscovery.Found circuit);

        void summary(Summary summary);
    }

    public static Plan plan(Request request, Serving on) {
        List<PromptPair> pairs = request.pairs();
        Checks.circuitRequest(pairs, request.ablation(), on);
        double target = Checks.finite(request.target(), "target");
        target = target == 0 ? DEFAULT_TARGET : target;
        if (!(target > 0 && target <= 1)) {
            throw InvalidRequest.invalid(
                    "target: a faithfulness in (0, 1] (0 takes " + DEFAULT_TARGET + "), got " + request.target());
        }
        double threshold = Checks.finite(request.threshold(), "threshold");
        threshold = threshold == 0 ? DEFAULT_THRESHOLD : threshold;
        if (threshold < 0) {
            throw InvalidRequest.invalid(
                    "threshold: must not be negative (0 takes " + DEFAULT_THRESHOLD + "), got " + request.threshold());
        }
        EdgeGraph graph = new EdgeGraph(on.config());
        int rows = Checks.circuitRows(on, pairs, graph.writers());
        EdgeAttribution.Settings ranking =
                request.search() == Search.ACDC ? null : request.ranking().settings(on, pairs, rows);
        // At most one run per edge, a prefix search, and the full and empty circuits, per pair.
        double runs = (graph.edges() + 2 + 2 * (64 - Long.numberOfLeadingZeros(graph.edges()))) * (double) pairs.size();
        runs += EdgeRanking.exactPasses(graph, pairs, ranking);
        Checks.withinRuns(
                runs,
                "pairs: discovery may take " + (long) runs + " runs, over the server's limit of "
                        + on.limits().maxPatchedRuns() + "; use fewer pairs",
                on);
        return new Plan(request, ranking, target, threshold, rows);
    }

    /** Runs a plan and gives the circuit found. */
    public static CircuitDiscovery.Found run(PassRunner runner, Plan plan, Events events) {
        long start = System.nanoTime();
        Request request = plan.request();
        List<PromptPair> pairs = request.pairs();
        events.accepted(plan.accepted());
        double passes = 0;
        CircuitDiscovery.Found found;
        try (CircuitEvaluation eval =
                new CircuitEvaluation(runner, pairs, request.ablation(), request.seed(), plan.rows())) {
            if (plan.ranking() == null) {
                found = CircuitDiscovery.acdc(
                        eval, new EdgeGraph(runner.model().config()), plan.threshold(), events::step);
            } else {
                EdgeResult ranked = EdgeAttribution.run(runner, pairs, plan.ranking(), EdgeAttribution.Listener.NONE);
                passes += ranked.cost().forwardPasses() / pairs.size();
                List<Edge> order = ranked.top(ranked.size()).stream()
                        .map(EdgeResult.Scored::edge)
                        .toList();
                found = CircuitDiscovery.greedy(eval, order, plan.target(), events::step);
            }
        }
        passes += found.forwardPasses();
        events.found(found);
        double total = passes * pairs.size();
        events.summary(new Summary(
                plan.method(),
                pairs.size(),
                Double.NaN,
                Double.NaN,
                new Cost(total, Double.NaN, (System.nanoTime() - start) / 1e9),
                runner.tally()));
        return found;
    }
}
