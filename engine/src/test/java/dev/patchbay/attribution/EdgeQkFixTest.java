package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.ToyModels;
import dev.patchbay.checkpoint.HfConfig;
import dev.patchbay.checkpoint.TensorStore;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.model.family.Families;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Edge.ReaderKind;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.EdgeEstimate;
import dev.patchbay.passes.EdgeEstimates;
import dev.patchbay.passes.EdgeEstimator;
import dev.patchbay.passes.EdgeSites;
import dev.patchbay.passes.EdgeWork;
import dev.patchbay.passes.MetricBatch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The QK fix on edges against brute force: for an edge into a query or a key, run the model with that head's split
 * input moved by the writer's change, read the patched attention pattern, and dot its change with the clean pattern
 * gradient. Float64, on every family with its query and key weights as they are and scaled by 4 and 10 (saturated
 * rows); tolerance 1e-9 of the largest estimate checked (rounding over saturated exponentials).
 */
@Tag("slow")
class EdgeQkFixTest {
    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String name : TestCheckpoints.ALL) {
            for (double factor : new double[] {1, 4, 10}) {
                out.add(Arguments.of(name, factor));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}, q/k weights x{1}")
    @MethodSource("cases")
    void qkFixOnEdgesEqualsBruteForce(String name, double factor) {
        try (NDManager weights = NDManager.newBaseManager("PyTorch")) {
            Path dir = TestCheckpoints.dir(name);
            HookedTransformer model = Families.build(
                    HfConfig.read(dir),
                    new QkFixTest.ScaledQueriesAndKeys(TensorStore.open(dir, weights, DataType.FLOAT64), factor),
                    weights);
            PromptPair pair = ToyModels.pair(name);
            EdgeGraph graph = new EdgeGraph(model.config());
            Random random = new Random(17);
            double largest = 0;
            double worst = 0;
            for (boolean perPosition : new boolean[] {false, true}) {
                EdgeEstimates fixed =
                        EdgeEstimator.run(model, new EdgeWork(List.of(pair), EdgeEstimate.EAP_QK_FIX, 0, perPosition));
                for (EdgeGraph.Group g : graph.groups()) {
                    if (g.kind() != ReaderKind.QUERY && g.kind() != ReaderKind.KEY) {
                        continue;
                    }
                    double[] values = fixed.estimates().get(g)[0];
                    for (int i = 0; i < 3; i++) {
                        int index = random.nextInt(values.length);
                        Edge edge = g.edge(index, fixed.positions(), graph);
                        double brute = bruteForce(model, pair, edge);
                        largest = Math.max(largest, Math.abs(brute));
                        worst = Math.max(worst, Math.abs(brute - values[index]));
                    }
                }
            }
            assertTrue(largest > 1e-4, "the test needs edges that matter: " + largest);
            assertEquals(0, worst, 1e-9 * largest, name + " x" + factor + ": largest " + largest);
        }
    }

    /** sum over heads, rows and keys of g (pattern with the edge patched - clean pattern), g the clean gradient. */
    private static double bruteForce(HookedTransformer model, PromptPair pair, Edge edge) {
        ModelConfig config = model.config();
        int layer = edge.reader().layer();
        String pattern = HookSites.attn(layer, "pattern");
        try (NDManager scope = model.compute().newScope()) {
            List<String> writers = EdgeSites.writerSites(config);
            TokenBatch clean = TokenBatch.of(pair.clean());
            MetricBatch metric =
                    new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null);
            ForwardResult cleanRun = model.forwardWithGradients(
                    scope,
                    clean,
                    Hooks.builder()
                            .cache(writers)
                            .cache(HookSites.residPre(layer), pattern)
                            .gradient(pattern)
                            .build(),
                    metric);
            ForwardResult noise = model.forward(
                    scope,
                    TokenBatch.of(pair.noise()),
                    Hooks.builder().cache(writers).build());
            NDArray changes = EdgeSites.writerChanges(model, scope, cleanRun.activations(), noise.activations());
            NDArray change = changes.get(new NDIndex("0, :, {}", new EdgeGraph(config).index(edge.writer())));
            if (edge.position() >= 0) {
                double[] mask = new double[pair.length()];
                mask[edge.position()] = 1;
                change = change.mul(scope.create(mask).reshape(-1, 1));
            }
            NDArray source = cleanRun.activation(HookSites.residPre(layer))
                    .get(new NDIndex("0"))
                    .add(change);
            ForwardResult patched = model.forward(
                    scope,
                    clean,
                    Hooks.builder()
                            .patch(
                                    EdgeSites.readerSite(edge.reader().kind(), layer, config),
                                    Patch.of(0, source, null, new int[] {
                                        edge.reader().unit()
                                    }))
                            .cache(pattern)
                            .build());
            double[] g = cleanRun.gradient(pattern).toDoubleArray();
            double[] before = cleanRun.activation(pattern).toDoubleArray();
            double[] after = patched.activation(pattern).toDoubleArray();
            double sum = 0;
            for (int i = 0; i < g.length; i++) {
                sum += g[i] * (after[i] - before[i]);
            }
            return sum;
        }
    }
}
