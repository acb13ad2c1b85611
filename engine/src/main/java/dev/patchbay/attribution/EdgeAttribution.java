package dev.patchbay.attribution;

import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeBlock;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.EdgeEstimate;
import dev.patchbay.passes.EdgeEstimates;
import dev.patchbay.passes.EdgeWork;
import dev.patchbay.passes.LayerwiseEdgeWork;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Edge attribution over a request's pairs (docs/spec/atp-spec.md section 9): exact edge patching, or an estimate
 * (EAP, EAP-IG, AtP* on edges) from batches of pairs through the runner. Blocks of one reader group go to the
 * listener as they are finished.
 */
public final class EdgeAttribution {
    private EdgeAttribution() {}

    /** The edge methods a request can ask for. */
    public enum Method {
        EXACT(null),
        EAP(EdgeEstimate.EAP),
        EAP_IG(EdgeEstimate.EAP_IG),
        ATP_STAR(EdgeEstimate.ATP_STAR);

        private final EdgeEstimate estimate;

        Method(EdgeEstimate estimate) {
            this.estimate = estimate;
        }

        /** The gradient estimate, or null for exact patching. */
        public EdgeEstimate estimate() {
            return estimate;
        }

        /**
         * Whether the scores for {@code pairs} pairs are magnitudes (no sign): AtP*'s always, the other estimates'
         * over a distribution (the mean of per-pair magnitudes, eq. 5); exact patching's mean effect is signed.
         */
        public boolean magnitudes(int pairs) {
            return estimate != null && (estimate.unsigned() || pairs > 1);
        }

        /** The id used in results and on the command line: exact, eap, eap-ig, atp-star. */
        public String id() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        public static Method byId(String id) {
            for (Method m : values()) {
                if (m.id().equals(id)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown edge method '" + id + "' (exact, eap, eap-ig, atp-star)");
        }
    }

    /**
     * @param igSteps EAP-IG's interpolation steps
     * @param maxRows pairs per gradient pass
     * @param chunk patched runs per streamed result for exact patching
     * @param recomputeLayers an estimate's passes recompute each layer in the backward ({@link LayerwiseEdgeWork}):
     *     the same estimates in memory linear in the prompt's length
     */
    public record Settings(
            Method method, boolean perPosition, int igSteps, int maxRows, int chunk, boolean recomputeLayers) {
        public static final int DEFAULT_IG_STEPS = 5;

        public Settings {
            if (method == Method.EAP_IG && igSteps < 1) {
                throw new IllegalArgumentException("ig_steps must be at least 1, got " + igSteps);
            }
            if (maxRows < 1 || chunk < 1) {
                throw new IllegalArgumentException("rows per pass and chunk must be positive");
            }
            if (recomputeLayers && method == Method.EXACT) {
                throw new IllegalArgumentException("exact edge patching has no backward to recompute");
            }
        }

        /** The plain passes. */
        public Settings(Method method, boolean perPosition, int igSteps, int maxRows, int chunk) {
            this(method, perPosition, igSteps, maxRows, chunk, false);
        }
    }

    /** Receives blocks as they are finished, and progress. */
    public interface Listener {
        Listener NONE = new Listener() {};

        default void onBlock(EdgeBlock block) {}

        default void onProgress(long done, long total) {}
    }

    /** Edges of a request: per position on a GPT-2-small shape at 64 tokens, 2.1 million. */
    public static long edgeCount(EdgeGraph graph, int length, boolean perPosition) {
        return graph.edges() * (perPosition ? length : 1);
    }

    /** Forward passes a request will spend, in the paper's unit. */
    public static double plannedPasses(EdgeGraph graph, List<PromptPair> pairs, Settings s) {
        int n = pairs.size();
        return switch (s.method()) {
            case EXACT -> n * (2.0 + edgeCount(graph, pairs.get(0).length(), s.perPosition()));
            case EAP -> 4.0 * n;
            case EAP_IG -> n * (2.0 + 3.0 * s.igSteps());
            case ATP_STAR ->
                n * (2.0 + 2.0 * graph.groups().get(graph.groups().size() - 1).layer());
        };
    }

    /**
     * Checks a request's pairs against the model before any work is done: one metric kind, known tokens, and for
     * per-position edges one length.
     */
    public static void validate(List<PromptPair> pairs, boolean perPosition, ModelConfig config) {
        try {
            PairBatch.validate(pairs, perPosition ? NodeSet.attention() : NodeSet.heads(), config);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().replace("nodes", "edges"), e);
        }
    }

    public static EdgeResult run(PassRunner runner, List<PromptPair> pairs, Settings s, Listener listener) {
        validate(pairs, s.perPosition(), runner.model().config());
        EdgeGraph graph = new EdgeGraph(runner.model().config());
        return s.method() == Method.EXACT
                ? exact(runner, pairs, graph, s, listener)
                : estimated(runner, pairs, graph, s, listener);
    }

    private static EdgeResult exact(
            PassRunner runner, List<PromptPair> pairs, EdgeGraph graph, Settings s, Listener listener) {
        long start = System.nanoTime();
        List<EdgeBlock> blocks = new ArrayList<>();
        int length = pairs.get(0).length();
        int[] positions = s.perPosition() ? allPositions(length) : null;
        try (EdgePatching patching =
                new EdgePatching(runner, pairs, s.chunk()).reportingTo(listener, plannedPasses(graph, pairs, s))) {
            for (EdgeGraph.Group g : graph.groups()) {
                int count = (int) (g.edges() * (positions == null ? 1 : positions.length));
                List<List<Edge>> singles = new ArrayList<>(count);
                for (int i = 0; i < count; i++) {
                    singles.add(List.of(g.edge(i, positions, graph)));
                }
                EdgeBlock block = new EdgeBlock(g, positions, patching.patch(singles));
                blocks.add(block);
                listener.onBlock(block);
            }
            Cost cost = patching.cost();
            return new EdgeResult(
                    Method.EXACT.id(),
                    pairs.get(0).metric().describe(),
                    pairs.size(),
                    patching.cleanMetric(),
                    patching.noiseMetric(),
                    graph,
                    blocks,
                    new Cost(cost.forwardPasses(), cost.computeEquivalents(), (System.nanoTime() - start) / 1e9));
        }
    }

    private static EdgeResult estimated(
            PassRunner runner, List<PromptPair> pairs, EdgeGraph graph, Settings s, Listener listener) {
        long start = System.nanoTime();
        EdgeEstimate estimate = s.method().estimate();
        Map<EdgeGraph.Group, double[]> signed = new LinkedHashMap<>();
        Map<EdgeGraph.Group, double[]> magnitude = new LinkedHashMap<>();
        int[] positions = null;
        double clean = 0;
        double noise = 0;
        Cost cost = Cost.NONE;
        int done = 0;
        for (List<PromptPair> batch : PairBatch.split(pairs, s.maxRows())) {
            EdgeEstimates e = runner.run(
                    s.recomputeLayers()
                            ? new LayerwiseEdgeWork(batch, estimate, s.igSteps(), s.perPosition())
                            : new EdgeWork(batch, estimate, s.igSteps(), s.perPosition()));
            positions = e.positions();
            for (double m : e.cleanMetrics()) {
                clean += m;
            }
            for (double m : e.noiseMetrics()) {
                noise += m;
            }
            e.estimates().forEach((g, rows) -> {
                double[] sum = signed.computeIfAbsent(g, k -> new double[rows[0].length]);
                double[] abs = magnitude.computeIfAbsent(g, k -> new double[rows[0].length]);
                for (double[] row : rows) {
                    for (int i = 0; i < row.length; i++) {
                        sum[i] += row[i];
                        abs[i] += Math.abs(row[i]);
                    }
                }
            });
            cost = cost.plus(e.cost());
            done += batch.size();
            listener.onProgress(done, pairs.size());
        }
        // Signed for a single pair (eq. 4), else the mean of per-pair magnitudes (eq. 5); AtP* is a magnitude.
        boolean signedResult = !s.method().magnitudes(pairs.size());
        List<EdgeBlock> blocks = new ArrayList<>();
        for (EdgeGraph.Group g : graph.groups()) {
            double[] values = (signedResult ? signed : magnitude).get(g).clone();
            for (int i = 0; i < values.length; i++) {
                values[i] /= pairs.size();
            }
            EdgeBlock block = new EdgeBlock(g, positions, values);
            blocks.add(block);
            listener.onBlock(block);
        }
        return new EdgeResult(
                s.method().id(),
                pairs.get(0).metric().describe(),
                pairs.size(),
                clean / pairs.size(),
                noise / pairs.size(),
                graph,
                blocks,
                new Cost(cost.forwardPasses(), cost.computeEquivalents(), (System.nanoTime() - start) / 1e9));
    }

    private static int[] allPositions(int length) {
        int[] all = new int[length];
        for (int i = 0; i < length; i++) {
            all[i] = i;
        }
        return all;
    }
}
