package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.Float64Models;
import dev.patchbay.ToyModels;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Edge.ReaderKind;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.EdgeEstimate;
import dev.patchbay.passes.EdgeEstimates;
import dev.patchbay.passes.EdgeEstimator;
import dev.patchbay.passes.EdgeSites;
import dev.patchbay.passes.EdgeWork;
import dev.patchbay.passes.MetricBatch;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Edge estimates against oracles that are not the estimator: exact edge patching on a linear model, central finite
 * differences along a writer's change, full unbatched forwards for batched resumed patching, and the metric's
 * additivity where the model is linear. Float64 throughout.
 */
@Tag("slow")
class EdgeEstimatesTest extends Float64Models {
    private static final PromptPair LINEAR_PAIR = new PromptPair(
            new int[] {3, 7, 1, 19, 4, 12},
            new int[] {8, 7, 2, 5, 4, 0},
            Metric.logitDiff(new int[] {2, 5}, new int[] {9}));

    /** On a model with no nonlinearity and fixed attention, EAP is exact: it equals exact edge patching, every edge. */
    @Test
    void onALinearModelEapEqualsExactEdgePatching() {
        HookedTransformer model = ToyModels.linear(manager, new Random(5));
        EdgeGraph graph = new EdgeGraph(model.config());
        for (boolean perPosition : new boolean[] {false, true}) {
            EdgeEstimates eap =
                    EdgeEstimator.run(model, new EdgeWork(List.of(LINEAR_PAIR), EdgeEstimate.EAP, 0, perPosition));
            List<Edge> edges = new ArrayList<>();
            List<Double> estimates = new ArrayList<>();
            eap.estimates().forEach((g, rows) -> {
                for (int i = 0; i < rows[0].length; i++) {
                    edges.add(g.edge(i, eap.positions(), graph));
                    estimates.add(rows[0][i]);
                }
            });
            assertEquals(graph.edges() * (perPosition ? LINEAR_PAIR.length() : 1), edges.size());
            double[] exact;
            try (EdgePatching patching = new EdgePatching(PassRunner.direct(model), List.of(LINEAR_PAIR), 64)) {
                exact = patching.patch(edges.stream().map(List::of).toList());
            }
            double largest = 0;
            for (int i = 0; i < edges.size(); i++) {
                largest = Math.max(largest, Math.abs(exact[i]));
                assertEquals(exact[i], estimates.get(i), 1e-10, edges.get(i).name());
            }
            assertTrue(largest > 0.1, "the test needs edges that matter");
        }
    }

    /** Where the model is linear, patching all of a reader's incoming edges at once moves the metric by their sum. */
    @Test
    void onALinearModelAReadersEdgesPatchedJointlyAddUp() {
        HookedTransformer model = ToyModels.linear(manager, new Random(5));
        EdgeGraph graph = new EdgeGraph(model.config());
        try (EdgePatching patching = new EdgePatching(PassRunner.direct(model), List.of(LINEAR_PAIR), 64)) {
            for (EdgeGraph.Group g : graph.groups()) {
                List<Edge> incoming = new ArrayList<>();
                for (int w = 0; w < g.writers(); w++) {
                    incoming.add(g.edge(w, null, graph)); // reader 0 of the group
                }
                double[] alone = patching.patch(incoming.stream().map(List::of).toList());
                double joint = patching.patch(List.of(incoming))[0];
                double sum = 0;
                for (double a : alone) {
                    sum += a;
                }
                assertEquals(
                        sum, joint, 1e-10, "into " + incoming.get(0).reader().name());
            }
        }
    }

    /**
     * EAP is the directional derivative of the metric along the writer's change at the reader's input, so it equals
     * the central difference (m(x + eps c) - m(x - eps c)) / (2 eps) with only that reader's input moved. One random
     * edge of every reader kind in the first and last layers, on every family; eps 1e-5, tolerance 1e-7 relative.
     */
    @ParameterizedTest
    @MethodSource("models")
    void eapEqualsAFiniteDifferenceAtEveryReaderKind(String name) {
        HookedTransformer model = model(name);
        ModelConfig config = model.config();
        PromptPair pair = ToyModels.pair(name);
        EdgeGraph graph = new EdgeGraph(config);
        EdgeEstimates eap = EdgeEstimator.run(model, new EdgeWork(List.of(pair), EdgeEstimate.EAP, 0, false));
        Random random = new Random(3);
        int checked = 0;
        double largest = 0;
        for (EdgeGraph.Group g : graph.groups()) {
            if (g.layer() != 0 && g.layer() != config.nLayers() - 1 && g.kind() != ReaderKind.LOGITS) {
                continue;
            }
            int index = random.nextInt((int) g.edges());
            Edge edge = g.edge(index, null, graph);
            double estimate = eap.estimates().get(g)[0][index];
            double plus = patchedMetric(model, pair, edge, 1e-5);
            double minus = patchedMetric(model, pair, edge, -1e-5);
            double numeric = (plus - minus) / 2e-5;
            assertEquals(numeric, estimate, 1e-7 * Math.max(1, Math.abs(numeric)), name + " " + edge);
            largest = Math.max(largest, Math.abs(numeric));
            checked++;
        }
        assertEquals(9, checked);
        assertTrue(largest > 1e-3, "the test needs edges that matter: " + largest);
    }

    /** Exact edge patching, batched and resumed at the reader's layer, equals one full forward per edge. */
    @ParameterizedTest
    @MethodSource("models")
    void batchedResumedEdgePatchingEqualsOneFullForwardPerEdge(String name) {
        HookedTransformer model = model(name);
        PromptPair pair = ToyModels.pair(name);
        EdgeGraph graph = new EdgeGraph(model.config());
        Random random = new Random(7);
        List<Edge> edges = new ArrayList<>();
        for (EdgeGraph.Group g : graph.groups()) {
            edges.add(g.edge(random.nextInt((int) g.edges()), null, graph));
        }
        edges.add(new Edge(Edge.Writer.EMBED, Edge.Reader.LOGITS, pair.length() - 1));
        double[] batched;
        try (EdgePatching patching = new EdgePatching(PassRunner.direct(model), List.of(pair), 16)) {
            batched = patching.patch(edges.stream().map(List::of).toList());
        }
        double clean = patchedMetric(model, pair, null, 0);
        double largest = 0;
        for (int i = 0; i < edges.size(); i++) {
            double full = patchedMetric(model, pair, edges.get(i), 1) - clean;
            assertEquals(full, batched[i], 1e-10 * Math.max(1, Math.abs(full)), name + " " + edges.get(i));
            largest = Math.max(largest, Math.abs(full));
        }
        assertTrue(largest > 1e-3, "the test needs edges that matter: " + largest);
    }

    /** Nothing lies between an edge into the logits and the metric, so no GradDrop variant changes it: |EAP|. */
    @ParameterizedTest
    @MethodSource("models")
    void gradDropOnEdgesIntoTheLogitsIsTheMagnitudeOfEap(String name) {
        HookedTransformer model = model(name);
        PromptPair pair = ToyModels.pair(name);
        EdgeEstimates eap = EdgeEstimator.run(model, new EdgeWork(List.of(pair), EdgeEstimate.EAP, 0, false));
        EdgeEstimates dropped =
                EdgeEstimator.run(model, new EdgeWork(List.of(pair), EdgeEstimate.EAP_GRAD_DROP, 0, false));
        EdgeGraph.Group logits = new EdgeGraph(model.config()).group(Edge.Reader.LOGITS);
        double[] signed = eap.estimates().get(logits)[0];
        double[] magnitude = dropped.estimates().get(logits)[0];
        for (int i = 0; i < signed.length; i++) {
            assertEquals(Math.abs(signed[i]), magnitude[i], 1e-12 * Math.max(1, Math.abs(signed[i])));
        }
    }

    /**
     * The metric of the clean run with {@code edge}'s reader input moved by {@code scale} times its writer's change
     * (at the edge's position, or all), by one full forward pass with nothing batched or resumed; null: the clean run.
     */
    static double patchedMetric(HookedTransformer model, PromptPair pair, Edge edge, double scale) {
        ModelConfig config = model.config();
        try (NDManager scope = model.compute().newScope()) {
            List<String> writers = EdgeSites.writerSites(config);
            Hooks.Builder keep = Hooks.builder().cache(writers);
            for (int l = 0; l < config.nLayers(); l++) {
                keep.cache(EdgeSites.cleanInputSite(ReaderKind.QUERY, l, config));
                keep.cache(EdgeSites.cleanInputSite(ReaderKind.MLP, l, config));
            }
            keep.cache(HookSites.residPost(config.nLayers() - 1));
            ForwardResult clean = model.forward(scope, TokenBatch.of(pair.clean()), keep.build());
            ForwardResult noise = model.forward(
                    scope,
                    TokenBatch.of(pair.noise()),
                    Hooks.builder().cache(writers).build());
            Hooks.Builder hooks = Hooks.builder();
            if (edge != null) {
                NDArray changes = EdgeSites.writerChanges(model, scope, clean.activations(), noise.activations());
                int w = new EdgeGraph(config).index(edge.writer());
                NDArray change = changes.get(new NDIndex("0, :, {}", w));
                if (edge.position() >= 0) {
                    double[] mask = new double[pair.length()];
                    mask[edge.position()] = 1;
                    change = change.mul(scope.create(mask).reshape(-1, 1).toType(change.getDataType(), false));
                }
                Edge.Reader r = edge.reader();
                NDArray input = clean.activation(EdgeSites.cleanInputSite(r.kind(), r.layer(), config))
                        .get(new NDIndex("0"));
                NDArray source = input.add(change.mul(scope.create(scale).toType(change.getDataType(), false)));
                hooks.patch(
                        EdgeSites.readerSite(r.kind(), r.layer(), config),
                        Patch.of(0, source, null, r.kind().perHead() ? new int[] {r.unit()} : null));
            }
            ForwardResult run = model.forward(scope, TokenBatch.of(pair.clean()), hooks.build());
            NDArray m = new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null)
                    .apply(run.logits());
            return m.toType(DataType.FLOAT64, false).getDouble(0);
        }
    }
}
