package dev.patchbay.operations;

import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import java.util.List;

/**
 * The edge ranking a prune curve or a greedy search starts from, as a request gives it: a method (null takes
 * {@link #DEFAULT_METHOD}) and its EAP-IG steps (0 takes the default).
 */
public record EdgeRanking(EdgeAttribution.Method method, int igSteps) {
    /** The ranking when a request names none, by its short name: AtP* on edges (an estimate, not exact patching). */
    public static final String DEFAULT_METHOD_ID = "atp-star";

    public static final EdgeAttribution.Method DEFAULT_METHOD = EdgeAttribution.Method.byId(DEFAULT_METHOD_ID);

    /** The most EAP-IG steps a request may ask for (each is a forward and a backward pass per pair). */
    public static final int MAX_IG_STEPS = 256;

    public static final EdgeRanking DEFAULT = new EdgeRanking(null, 0);

    /**
     * The ranking's settings over all positions, its passes sized to the memory budget (recomputing each layer where
     * the plain pass would not fit).
     */
    EdgeAttribution.Settings settings(Serving on, List<PromptPair> pairs, int patchRows) {
        EdgeAttribution.Method m = method == null ? DEFAULT_METHOD : method;
        int steps = Checks.igSteps(igSteps);
        Checks.EdgePasses passes = Checks.edgePasses(on, pairs, m, steps, false, false);
        return new EdgeAttribution.Settings(m, false, steps, passes.rows(), patchRows, passes.recomputeLayers());
    }

    /** The forward passes a ranking costs before it is used: exact patching's runs; an estimate's are few. */
    static double exactPasses(EdgeGraph graph, List<PromptPair> pairs, EdgeAttribution.Settings ranking) {
        return ranking != null && ranking.method() == EdgeAttribution.Method.EXACT
                ? EdgeAttribution.plannedPasses(graph, pairs, ranking)
                : 0;
    }
}
