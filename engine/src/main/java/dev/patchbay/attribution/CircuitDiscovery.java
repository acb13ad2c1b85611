package dev.patchbay.attribution;

import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Circuit discovery (docs/spec/atp-spec.md section 10). Greedy: the smallest top-n of a ranking whose faithfulness
 * reaches a target, then pruned by exact checks (each edge, least important first, dropped if the circuit without it
 * still reaches the target). A circuit reaches a target t when its faithfulness is within 1 - t of 1: one that
 * overshoots (leaving out a path that cancels the rest, faithfulness far above 1) does not. ACDC-style: from the full model, readers from the logits backwards, each incoming edge
 * dropped if that moves the faithfulness by less than a threshold. Each reports every check it made and its cost.
 */
public final class CircuitDiscovery {
    private CircuitDiscovery() {}

    /**
     * One check: a stage ("prefix", "prune", "acdc"), the edge it concerned (null for a prefix), the circuit size
     * evaluated, its faithfulness, and whether the edge was kept (for a prefix: whether it reached the target).
     */
    public record Step(String stage, Edge edge, int size, double faithfulness, boolean kept) {}

    /** The circuit found, its faithfulness, the forward passes per pair spent on it, and every check. */
    public record Found(List<Edge> edges, double faithfulness, double forwardPasses, List<Step> steps) {}

    /**
     * @param ranking every edge, most important first (e.g. AtP* on edges)
     * @param target the faithfulness to reach, e.g. 0.9
     */
    public static Found greedy(CircuitEvaluation eval, List<Edge> ranking, double target, Consumer<Step> listener) {
        if (!(target > 0 && target <= 1)) {
            throw new IllegalArgumentException("target faithfulness must be in (0, 1], got " + target);
        }
        double start = eval.forwardPasses();
        List<Step> steps = new ArrayList<>();
        // Double the prefix until it reaches the target, then bisect between the last two sizes.
        int low = 0;
        int high = ranking.size();
        for (int n = 1; n < ranking.size(); n *= 2) {
            double f = faithfulness(eval, ranking.subList(0, n));
            record(steps, listener, new Step("prefix", null, n, f, reaches(f, target)));
            if (reaches(f, target)) {
                high = n;
                break;
            }
            low = n;
        }
        while (high - low > 1) {
            int mid = (low + high) / 2;
            double f = faithfulness(eval, ranking.subList(0, mid));
            record(steps, listener, new Step("prefix", null, mid, f, reaches(f, target)));
            if (reaches(f, target)) {
                high = mid;
            } else {
                low = mid;
            }
        }
        List<Edge> circuit = new ArrayList<>(ranking.subList(0, high));
        // Prune: the least important first, each dropped when the circuit still reaches the target without it.
        for (int i = high - 1; i >= 0 && circuit.size() > 1; i--) {
            Edge e = ranking.get(i);
            List<Edge> without = new ArrayList<>(circuit);
            without.remove(e);
            double f = faithfulness(eval, without);
            boolean keep = !reaches(f, target);
            record(steps, listener, new Step("prune", e, without.size(), f, keep));
            if (!keep) {
                circuit = without;
            }
        }
        double f = faithfulness(eval, circuit);
        return new Found(circuit, f, eval.forwardPasses() - start, steps);
    }

    /**
     * ACDC-style search (Conmy et al. 2023, with faithfulness in place of their KL): from the full model, for each
     * reader from the logits backwards and each of its incoming edges from the latest writer back, drop the edge if
     * the faithfulness moves by less than {@code threshold}.
     */
    public static Found acdc(CircuitEvaluation eval, EdgeGraph graph, double threshold, Consumer<Step> listener) {
        if (!(threshold >= 0)) {
            throw new IllegalArgumentException("threshold must not be negative, got " + threshold);
        }
        double start = eval.forwardPasses();
        List<Step> steps = new ArrayList<>();
        Set<Edge> circuit = new LinkedHashSet<>(eval.allEdges());
        double current = 1;
        List<EdgeGraph.Group> groups = new ArrayList<>(graph.groups());
        java.util.Collections.reverse(groups);
        for (EdgeGraph.Group g : groups) {
            for (int r = g.readers() - 1; r >= 0; r--) {
                for (int w = g.writers() - 1; w >= 0; w--) {
                    Edge e = g.edge(r * g.writers() + w, null, graph);
                    Set<Edge> without = new LinkedHashSet<>(circuit);
                    without.remove(e);
                    double f = eval.faithfulness(without).mean();
                    boolean keep = Math.abs(f - current) >= threshold;
                    record(steps, listener, new Step("acdc", e, without.size(), f, keep));
                    if (!keep) {
                        circuit = without;
                        current = f;
                    }
                }
            }
        }
        return new Found(new ArrayList<>(circuit), current, eval.forwardPasses() - start, steps);
    }

    /** Whether a faithfulness is within 1 - target of the full model's 1. */
    private static boolean reaches(double faithfulness, double target) {
        return Math.abs(1 - faithfulness) <= 1 - target;
    }

    private static double faithfulness(CircuitEvaluation eval, List<Edge> edges) {
        return eval.faithfulness(new LinkedHashSet<>(edges)).mean();
    }

    private static void record(List<Step> steps, Consumer<Step> listener, Step step) {
        steps.add(step);
        listener.accept(step);
    }
}
