package dev.patchbay.research.replication;

import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgePatching;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.attribution.baselines.Hierarchical;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The paper's comparison on edges (issue 16): exact edge patching of every edge as the ground truth, then the cost of
 * verified recall of EAP, EAP-IG and AtP* on edges against Iterative and Hierarchical, each edge verified by exact
 * edge patching in the method's order.
 *
 * @param igSteps EAP-IG's interpolation steps
 */
public record EdgeReplication(int maxK, int seeds, int batchRows, double relativeFloor, int igSteps) {
    public Replication.Outcome run(
            HookedTransformer model, PromptSetting setting, boolean perPosition, Consumer<String> log) {
        PassRunner runner = PassRunner.direct(model);
        List<PromptPair> pairs = setting.pairs();
        String edgeSet = perPosition ? "edges-per-position" : "edges";
        EdgeResult truth = EdgeAttribution.run(
                runner,
                pairs,
                new EdgeAttribution.Settings(EdgeAttribution.Method.EXACT, perPosition, igSteps, 8, batchRows),
                EdgeAttribution.Listener.NONE);
        List<EdgeResult.Scored> top = trueTop(truth);
        List<Edge> topEdges = top.stream().map(EdgeResult.Scored::edge).toList();
        log.accept(String.format(
                "%s / %s: %d edges, %d pairs; ground truth %.1f s; top %d nonzero effects, largest %s %.4f",
                setting.name(),
                edgeSet,
                truth.size(),
                pairs.size(),
                truth.cost().wallSeconds(),
                top.size(),
                top.get(0).edge().name(),
                top.get(0).estimate()));
        List<Replication.Curve> curves = new ArrayList<>();
        for (EdgeAttribution.Method m :
                List.of(EdgeAttribution.Method.EAP, EdgeAttribution.Method.EAP_IG, EdgeAttribution.Method.ATP_STAR)) {
            long start = System.nanoTime();
            EdgeResult r = EdgeAttribution.run(
                    runner,
                    pairs,
                    new EdgeAttribution.Settings(m, perPosition, igSteps, 8, batchRows),
                    EdgeAttribution.Listener.NONE);
            List<Edge> order =
                    r.top(r.size()).stream().map(EdgeResult.Scored::edge).toList();
            double[] cost = VerifiedRecall.costOf(
                    topEdges, VerifiedRecall.placesOf(order), r.cost().forwardPasses() / pairs.size());
            curves.add(curve(family(m), label(m), cost, start, log));
        }
        long start = System.nanoTime();
        List<Edge> canonical = truth.edgesExcept(List.of());
        List<double[]> random = new ArrayList<>();
        for (long seed = 0; seed < seeds; seed++) {
            List<Edge> order = new ArrayList<>(canonical);
            Collections.shuffle(order, new Random(seed));
            random.add(VerifiedRecall.costOf(topEdges, VerifiedRecall.placesOf(order), 0));
        }
        curves.add(curve("Iterative", "Iterative", VerifiedRecall.geometricMean(random), start, log));
        for (int branching : new int[] {2, 4, 16}) {
            start = System.nanoTime();
            Set<Edge> missing = new HashSet<>(topEdges);
            Map<Edge, Long> reached = new HashMap<>();
            try (EdgePatching patching = new EdgePatching(runner, pairs, batchRows)) {
                Hierarchical.search(canonical, patching, branching, 0, (edge, patches) -> {
                    reached.put(edge, patches);
                    missing.remove(edge);
                    return !missing.isEmpty();
                });
            }
            curves.add(curve(
                    "Hierarchical",
                    "Hierarchical (b=" + branching + ")",
                    VerifiedRecall.costOf(topEdges, reached, 2),
                    start,
                    log));
        }
        return new Replication.Outcome(
                setting.name(),
                setting.description(),
                edgeSet,
                pairs.size(),
                truth.size(),
                truth.cleanMetric(),
                truth.noiseMetric(),
                top.stream()
                        .map(t -> new Replication.Truth(t.edge().name(), t.estimate()))
                        .toList(),
                truth.cost().wallSeconds(),
                curves);
    }

    /** The true top edges by |exact effect|, at most maxK, leaving out effects at or below the relative floor. */
    private List<EdgeResult.Scored> trueTop(EdgeResult truth) {
        List<EdgeResult.Scored> ranked = truth.top(truth.size());
        double floor = relativeFloor * Math.abs(ranked.get(0).estimate());
        int k = 0;
        while (k < Math.min(maxK, ranked.size()) && Math.abs(ranked.get(k).estimate()) > floor) {
            k++;
        }
        return ranked.subList(0, k);
    }

    private static Replication.Curve curve(
            String family, String label, double[] cost, long start, Consumer<String> log) {
        Replication.Curve c = new Replication.Curve(
                family, label, cost, VerifiedRecall.relativeCost(cost), (System.nanoTime() - start) / 1e9);
        log.accept(String.format(
                "  %-32s relative cost %9.2f  cost(1) %8.0f  cost(%d) %9.0f  (%.1f s)",
                label, c.relativeCost(), cost[0], cost.length, cost[cost.length - 1], c.seconds()));
        return c;
    }

    private static String family(EdgeAttribution.Method m) {
        return switch (m) {
            case EAP -> "EAP";
            case EAP_IG -> "EAP-IG";
            case ATP_STAR -> "AtP*";
            case EXACT -> "exact";
        };
    }

    private String label(EdgeAttribution.Method m) {
        return m == EdgeAttribution.Method.EAP_IG ? "EAP-IG (" + igSteps + " steps)" : family(m) + " on edges";
    }
}
