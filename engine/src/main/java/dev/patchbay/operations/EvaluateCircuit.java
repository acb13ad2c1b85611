package dev.patchbay.operations;

import dev.patchbay.attribution.CircuitEvaluation;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A circuit's faithfulness (everything outside it ablated), for named circuits; or, given none, a prune curve: an
 * edge ranking's top-n edges for each of a list of sizes. The EvaluateCircuit use-case and {@code patchbay circuit}.
 */
public final class EvaluateCircuit {
    /** The ablation when a request names none: each ablated edge takes another pair's value. */
    public static final Ablation DEFAULT_ABLATION = Ablation.RESAMPLE;

    private EvaluateCircuit() {}

    /**
     * An evaluation request; zeros, nulls and empty lists take the defaults.
     *
     * @param circuits named circuits (edges over all positions); empty for a prune curve of {@code ranking}
     * @param sizes the prune curve's sizes; empty takes {@link #defaultSizes} (0, 1, 2, 4, ..., every edge)
     */
    public record Request(
            List<PromptPair> pairs,
            Ablation ablation,
            long seed,
            List<Circuit> circuits,
            EdgeRanking ranking,
            int[] sizes) {
        public Request {
            pairs = List.copyOf(pairs);
            ablation = ablation == null ? DEFAULT_ABLATION : ablation;
            circuits = List.copyOf(circuits);
            ranking = ranking == null ? EdgeRanking.DEFAULT : ranking;
            sizes = sizes == null ? new int[0] : sizes.clone();
        }
    }

    /** A circuit by name: its edges over all positions, as the request lists them. */
    public record Circuit(String name, List<Edge> edges) {
        public Circuit {
            edges = List.copyOf(edges);
        }

        /** Its edges, each once. */
        public Set<Edge> edgeSet() {
            return new LinkedHashSet<>(edges);
        }
    }

    /**
     * A checked request: the ranking's settings (null for named circuits) and the prune curve's sizes.
     *
     * @param points circuits (or prune-curve points) evaluated
     */
    public record Plan(
            Request request, EdgeAttribution.Settings ranking, int[] sizes, int points, double plannedRuns, int rows) {
        public String method() {
            return "circuit/" + request.ablation().name().toLowerCase(Locale.ROOT);
        }

        public Accepted accepted() {
            return new Accepted(points, ranking == null ? "circuits" : "points", plannedRuns, method());
        }
    }

    /** A point evaluated: a circuit's name (or "top n"), its size, and its faithfulness. */
    public record Point(String name, int size, CircuitEvaluation.Faithfulness faithfulness) {}

    /** What the operation tells as it runs, in order. */
    public interface Events {
        void accepted(Accepted accepted);

        void point(Point point);

        void progress(long done, long total);

        void summary(Summary summary);
    }

    /** The prune curve's default sizes for a graph of {@code edges} edges: 0, 1, 2, 4, ..., every edge. */
    public static int[] defaultSizes(long edges) {
        List<Integer> sizes = new ArrayList<>(List.of(0));
        for (long n = 1; n < edges; n *= 2) {
            sizes.add((int) n);
        }
        sizes.add((int) edges);
        return sizes.stream().mapToInt(Integer::intValue).toArray();
    }

    public static Plan plan(Request request, Serving on) {
        List<PromptPair> pairs = request.pairs();
        Checks.circuitRequest(pairs, request.ablation(), on);
        EdgeGraph graph = new EdgeGraph(on.config());
        int length = pairs.get(0).length();
        for (int c = 0; c < request.circuits().size(); c++) {
            List<Edge> edges = request.circuits().get(c).edges();
            for (int e = 0; e < edges.size(); e++) {
                Edge edge = edges.get(e);
                try {
                    graph.check(edge, length);
                    if (edge.position() >= 0) {
                        throw new IllegalArgumentException(
                                "circuits are of edges over all positions, not " + edge.name());
                    }
                } catch (IllegalArgumentException ex) {
                    throw InvalidRequest.invalid("circuits[" + c + "].edges[" + e + "]: " + ex.getMessage());
                }
            }
        }
        // The circuit runs' rows (each ablating edges on a forward); verification-free, so patch rows do not apply.
        int rows = Checks.circuitRows(on, pairs, graph.writers());
        EdgeAttribution.Settings ranking = null;
        int[] sizes = new int[0];
        if (request.circuits().isEmpty()) {
            ranking = request.ranking().settings(on, pairs, rows);
            long edges = graph.edges();
            sizes = request.sizes().length == 0 ? defaultSizes(edges) : request.sizes();
            for (int i = 0; i < sizes.length; i++) {
                if (sizes[i] < 0 || sizes[i] > edges) {
                    throw InvalidRequest.invalid(
                            "sizes[" + i + "]: " + sizes[i] + " outside [0, " + edges + "] (the model's edges)");
                }
            }
        }
        int points =
                request.circuits().isEmpty() ? sizes.length : request.circuits().size();
        double runs = (double) (points + 2) * pairs.size();
        runs += EdgeRanking.exactPasses(graph, pairs, ranking);
        Checks.withinRuns(
                runs,
                "circuits: " + (long) runs + " runs exceed the server's limit of "
                        + on.limits().maxPatchedRuns() + "; evaluate fewer circuits or points",
                on);
        return new Plan(request, ranking, sizes, points, runs, rows);
    }

    /** Runs a plan: for a prune curve the edge ranking first, then each point, streamed as it completes. */
    public static void run(dev.patchbay.passes.PassRunner runner, Plan plan, Events events) {
        long start = System.nanoTime();
        Request request = plan.request();
        List<PromptPair> pairs = request.pairs();
        events.accepted(plan.accepted());
        double passes = 0;
        int[] done = {0};
        try (CircuitEvaluation eval =
                new CircuitEvaluation(runner, pairs, request.ablation(), request.seed(), plan.rows())) {
            if (plan.ranking() != null) {
                EdgeResult ranked = EdgeAttribution.run(runner, pairs, plan.ranking(), EdgeAttribution.Listener.NONE);
                passes += ranked.cost().forwardPasses();
                List<Edge> order = ranked.top(ranked.size()).stream()
                        .map(EdgeResult.Scored::edge)
                        .toList();
                eval.pruneCurve(order, plan.sizes(), p -> {
                    events.point(new Point("top " + p.size(), p.size(), p.faithfulness()));
                    events.progress(++done[0], plan.points());
                });
            } else {
                for (Circuit c : request.circuits()) {
                    Set<Edge> edges = c.edgeSet();
                    events.point(new Point(c.name(), edges.size(), eval.faithfulness(edges)));
                    events.progress(++done[0], plan.points());
                }
            }
        }
        passes += (plan.points() + 2.0) * pairs.size();
        events.summary(new Summary(
                plan.method(),
                pairs.size(),
                Double.NaN,
                Double.NaN,
                new Cost(passes, Double.NaN, (System.nanoTime() - start) / 1e9),
                runner.tally()));
    }
}
