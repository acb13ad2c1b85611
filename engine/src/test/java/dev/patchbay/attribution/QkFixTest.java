package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.ToyModels;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.model.family.Families;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.MetricBatch;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The QK fix against brute force: for each single query or key (and each head's keys all at once), recompute
 * the softmax rows it touches from scratch, in plain Java loops, and dot their change with the pattern
 * gradient g held fixed. Also AtP* against L genuinely separate backward passes, each with one layer's
 * gradient stopped in the forward graph, instead of the shared partial backward it uses. Float64; the
 * tolerance 1e-10 is far below the issue's 1e-5 and far above float64 rounding over T ~ 10 terms.
 */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class QkFixTest {
    static Iterable<String> models() {
        return TestCheckpoints.ALL;
    }

    /** Per-layer tensors of one forward, as flat float64 arrays with their sizes. */
    record Attention(
            int t,
            int heads,
            int kvHeads,
            int d,
            double[] cleanQ,
            double[] noiseQ,
            double[] cleanK,
            double[] noiseK,
            double[] scores,
            double scale,
            double softcap) {
        /** The score of query qt and key kt as the model computes it, soft-capped where it caps. */
        double dot(double[] q, int qt, int h, double[] k, int kt, int kh) {
            double sum = 0;
            for (int i = 0; i < d; i++) {
                sum += q[(qt * heads + h) * d + i] * k[(kt * kvHeads + kh) * d + i];
            }
            return softcap == 0 ? sum * scale : softcap * Math.tanh(sum * scale / softcap);
        }

        double score(int h, int qt, int kt) {
            return scores[(h * t + qt) * t + kt];
        }

        /** sum_s g_ts (softmax(row')_s - A_ts) for query row qt of head h, with key s from {@code key(s)}. */
        double rowChange(double[] g, int h, int qt, double[] q, KeySource key) {
            int kh = h / (heads / kvHeads);
            double[] clean = new double[qt + 1];
            double[] patched = new double[qt + 1];
            for (int s = 0; s <= qt; s++) {
                clean[s] = score(h, qt, s);
                // A key outside a sliding window is masked (-inf) in the clean scores, and stays so.
                patched[s] = clean[s] == Double.NEGATIVE_INFINITY
                        ? Double.NEGATIVE_INFINITY
                        : dot(q, qt, h, key.of(s), s, kh);
            }
            double[] a = softmax(clean);
            double[] b = softmax(patched);
            double change = 0;
            for (int s = 0; s <= qt; s++) {
                change += g[(h * t + qt) * t + s] * (b[s] - a[s]);
            }
            return change;
        }
    }

    interface KeySource {
        double[] of(int position);
    }

    @ParameterizedTest
    @MethodSource("models")
    void queryAndKeyEstimatesEqualBruteForceSoftmaxRecomputation(String name) {
        try (LoadedModel loaded = TestCheckpoints.load(name, DataType.FLOAT64);
                NDManager scope = NDManager.newBaseManager("PyTorch")) {
            Checked checked = checkAgainstBruteForce(loaded.transformer(), scope, ToyModels.pair(name), 1e-10, 0);
            assertTrue(checked.largest() > 1e-3, "the test needs queries that matter");
        }
    }

    static Stream<Arguments> saturated() {
        List<Arguments> out = new ArrayList<>();
        for (String name : TestCheckpoints.ALL) {
            for (double factor : new double[] {4, 10}) {
                for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32}) {
                    out.add(Arguments.of(name, factor, type));
                }
            }
        }
        return out.stream();
    }

    /**
     * With the query and key projections scaled up, attention saturates: rows whose dominant probability is
     * exactly 1 in float64 (a score gap above about 37) and keys whose probability is exactly 0, where a patched
     * key re-routes the row. The key estimate built on the rounded probability scored such keys 0 or a tenth of
     * their effect; it must equal brute force here too. Float64: 1e-9 of the largest effect (rounding over rows of
     * saturated exponentials). Float32 activations: the brute force recomputes the scores from q.k in float64
     * while the estimate starts from the model's float32 scores, which differ by float32 rounding of scores in the
     * hundreds, about 1e-5 in the exponent: 1e-4 of the largest effect.
     */
    @ParameterizedTest(name = "{0}, q/k weights x{1}, {2}")
    @MethodSource("saturated")
    void keyEstimatesHoldWhereAttentionIsSaturated(String name, double factor, DataType type) {
        try (NDManager weights = NDManager.newBaseManager("PyTorch");
                NDManager scope = NDManager.newBaseManager("PyTorch")) {
            java.nio.file.Path dir = TestCheckpoints.dir(name);
            var store = dev.patchbay.checkpoint.TensorStore.open(dir, weights, type);
            HookedTransformer model = Families.build(
                    dev.patchbay.checkpoint.HfConfig.read(dir), new ScaledQueriesAndKeys(store, factor), weights);
            Checked checked = checkAgainstBruteForce(
                    model, scope, ToyModels.pair(name), 0, type == DataType.FLOAT64 ? 1e-9 : 1e-4);
            System.out.printf(
                    "QK fix, %s x%.0f %s: %d saturated rows (a probability of exactly 1), largest effect %.3g%n",
                    name, factor, type, checked.saturatedRows(), checked.largest());
            // Soft-capped scores (tiny-gemma2 caps at 5) differ by at most twice the cap: they cannot saturate.
            if (factor == 10 && model.config().attnSoftcap() == 0) {
                assertTrue(checked.saturatedRows() > 0, "the scaled model must saturate some rows");
            }
        }
    }

    /**
     * A checkpoint with its query and key projections (weights and biases) multiplied by {@code factor}, and
     * the weights of query and key norms where a model normalizes them (there scaling the projection does
     * nothing).
     */
    record ScaledQueriesAndKeys(dev.patchbay.model.Weights inner, double factor) implements dev.patchbay.model.Weights {
        @Override
        public NDArray get(String name, long... shape) {
            NDArray w = inner.get(name, shape);
            boolean queryOrKey = name.contains("c_attn") // GPT-2 packs q, k and v: v scales too, harmlessly
                    || name.contains("query_key_value")
                    || name.contains("qkv_proj") // Phi-3 packs them too
                    || name.contains("q_proj")
                    || name.contains("k_proj")
                    || name.contains("q_norm")
                    || name.contains("k_norm");
            return queryOrKey ? dev.patchbay.model.Scalars.times(w, factor) : w;
        }

        @Override
        public boolean has(String name) {
            return inner.has(name);
        }
    }

    /** How the check went: the largest brute-force effect and the rows that were saturated. */
    record Checked(double largest, int saturatedRows) {}

    /**
     * Every query and key estimate (per position and per head) against brute force, within {@code absolute} or
     * {@code relative} times the largest effect, whichever is larger.
     */
    private static Checked checkAgainstBruteForce(
            HookedTransformer model, NDManager scope, PromptPair pair, double absolute, double relative) {
        NodeSet qk = new NodeSet(EnumSet.of(NodeKind.QUERY, NodeKind.KEY), null, true, null);
        AttributionResult fine = new AtP(true, 1).run(model, List.of(pair), qk);
        AttributionResult coarse = new AtP(true, 1).run(model, List.of(pair), qk.withPerPosition(false));
        double[][] gradients = patternGradients(model, scope, pair, -1);
        List<double[]> expectedAndGot = new ArrayList<>();
        List<String> names = new ArrayList<>();
        double largest = 0;
        int saturated = 0;
        for (int layer = 0; layer < model.config().nLayers(); layer++) {
            Attention at = attention(model, scope, pair, layer);
            double[] g = gradients[layer];
            int groups = at.heads / at.kvHeads;
            for (int h = 0; h < at.heads; h++) {
                double total = 0;
                for (int t = 0; t < at.t; t++) {
                    double[] row = new double[t + 1];
                    for (int s = 0; s <= t; s++) {
                        row[s] = at.score(h, t, s);
                    }
                    for (double p : softmax(row)) {
                        saturated += t > 0 && p == 1.0 ? 1 : 0;
                    }
                    double brute = at.rowChange(g, h, t, at.noiseQ, s -> at.cleanK);
                    total += brute;
                    largest = Math.max(largest, Math.abs(brute));
                    names.add("L" + layer + "H" + h + ".q@" + t);
                    expectedAndGot.add(new double[] {brute, fine.estimate(names.get(names.size() - 1))});
                }
                names.add("L" + layer + "H" + h + ".q");
                expectedAndGot.add(new double[] {total, coarse.estimate(names.get(names.size() - 1))});
            }
            for (int j = 0; j < at.kvHeads; j++) {
                double allKeys = 0;
                for (int h = j * groups; h < (j + 1) * groups; h++) {
                    for (int t = 0; t < at.t; t++) {
                        allKeys += at.rowChange(g, h, t, at.cleanQ, s -> at.noiseK);
                    }
                }
                names.add("L" + layer + "H" + j + ".k");
                expectedAndGot.add(new double[] {allKeys, coarse.estimate(names.get(names.size() - 1))});
                for (int s = 0; s < at.t; s++) {
                    final int patchedKey = s;
                    double brute = 0;
                    for (int h = j * groups; h < (j + 1) * groups; h++) {
                        for (int t = s; t < at.t; t++) {
                            brute += at.rowChange(g, h, t, at.cleanQ, p -> p == patchedKey ? at.noiseK : at.cleanK);
                        }
                    }
                    largest = Math.max(largest, Math.abs(brute));
                    names.add("L" + layer + "H" + j + ".k@" + s);
                    expectedAndGot.add(new double[] {brute, fine.estimate(names.get(names.size() - 1))});
                }
            }
        }
        double tolerance = Math.max(absolute, relative * largest);
        for (int i = 0; i < names.size(); i++) {
            assertEquals(expectedAndGot.get(i)[0], expectedAndGot.get(i)[1], tolerance, names.get(i));
        }
        return new Checked(largest, saturated);
    }

    @ParameterizedTest
    @MethodSource("models")
    void atPStarEqualsSeparateBackwardPassesWithEachLayerStopped(String name) {
        try (LoadedModel loaded = TestCheckpoints.load(name, DataType.FLOAT64);
                NDManager scope = NDManager.newBaseManager("PyTorch")) {
            HookedTransformer model = loaded.transformer();
            ModelConfig config = model.config();
            PromptPair pair = ToyModels.pair(name);
            NodeSet nodes = NodeSet.attentionAndNeurons();
            AttributionResult star = new AtPStar(1).run(model, List.of(pair), nodes);
            int layers = config.nLayers();
            double[] expected = new double[star.ranked().size()];
            List<Node> order =
                    star.ranked().stream().map(AttributionResult.Scored::node).toList();
            // Two forwards per layer, the same for every node and every dropped layer: read once.
            List<Attention> attentionByLayer = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                attentionByLayer.add(attention(model, scope, pair, l));
            }
            for (int dropped = 0; dropped < layers; dropped++) {
                double[][] g = patternGradients(model, scope, pair, dropped);
                List<String> sites = new ArrayList<>();
                for (Node n : order) {
                    sites.add(n.kind().site(n.layer()));
                }
                ForwardResult noise = model.forward(
                        scope,
                        TokenBatch.of(pair.noise()),
                        Hooks.builder().cache(sites).build());
                ForwardResult clean = model.forwardWithGradients(
                        scope,
                        TokenBatch.of(pair.clean()),
                        Hooks.builder()
                                .cache(sites)
                                .gradient(sites)
                                .stopGradientThrough(dropped)
                                .build(),
                        metricOf(scope, pair));
                for (int i = 0; i < order.size(); i++) {
                    Node n = order.get(i);
                    double term;
                    if (n.kind() == NodeKind.QUERY || n.kind() == NodeKind.KEY) {
                        Attention at = attentionByLayer.get(n.layer());
                        double[] gl = g[n.layer()];
                        int groups = at.heads / at.kvHeads;
                        term = 0;
                        if (n.kind() == NodeKind.QUERY) {
                            term = at.rowChange(gl, n.unit(), n.position(), at.noiseQ, s -> at.cleanK);
                        } else {
                            for (int h = n.unit() * groups; h < (n.unit() + 1) * groups; h++) {
                                for (int t = n.position(); t < at.t; t++) {
                                    term += at.rowChange(
                                            gl, h, t, at.cleanQ, p -> p == n.position() ? at.noiseK : at.cleanK);
                                }
                            }
                        }
                    } else {
                        String site = n.kind().site(n.layer());
                        NDArray delta = noise.activation(site)
                                .sub(clean.activation(site))
                                .mul(clean.gradient(site));
                        NDArray atPosition = delta.get("0, {}", n.position());
                        term = (n.kind() == NodeKind.NEURON
                                        ? atPosition.get("{}", n.unit())
                                        : atPosition.get("{}", n.unit()).sum())
                                .getDouble();
                    }
                    expected[i] += Math.abs(term) / (layers - 1);
                }
            }
            for (int i = 0; i < order.size(); i++) {
                assertEquals(
                        expected[i],
                        star.estimate(order.get(i).name()),
                        1e-10,
                        order.get(i).name());
            }
        }
    }

    private static java.util.function.Function<NDArray, NDArray> metricOf(NDManager scope, PromptPair pair) {
        return new MetricBatch(scope, List.of(pair.metric()), new int[] {pair.metricPosition()}, null);
    }

    /** dMetric/dA per layer [H, T, T], flattened; with the gradient through layer {@code dropped} stopped (-1: none). */
    private static double[][] patternGradients(HookedTransformer model, NDManager scope, PromptPair pair, int dropped) {
        int layers = model.config().nLayers();
        Hooks.Builder hooks = Hooks.builder();
        for (int l = 0; l < layers; l++) {
            hooks.gradient(HookSites.attn(l, "pattern"));
        }
        if (dropped >= 0) {
            hooks.stopGradientThrough(dropped);
        }
        ForwardResult r =
                model.forwardWithGradients(scope, TokenBatch.of(pair.clean()), hooks.build(), metricOf(scope, pair));
        double[][] out = new double[layers][];
        for (int l = 0; l < layers; l++) {
            out[l] = r.gradient(HookSites.attn(l, "pattern"))
                    .get("0")
                    .toType(DataType.FLOAT64, false)
                    .toDoubleArray();
        }
        return out;
    }

    private static Attention attention(HookedTransformer model, NDManager scope, PromptPair pair, int layer) {
        ModelConfig c = model.config();
        String q = HookSites.attn(layer, c.rotaryDim() > 0 ? "rot_q" : "q");
        String k = HookSites.attn(layer, c.rotaryDim() > 0 ? "rot_k" : "k");
        String scores = HookSites.attn(layer, "attn_scores");
        ForwardResult clean = model.forward(
                scope,
                TokenBatch.of(pair.clean()),
                Hooks.builder().cache(q, k, scores).build());
        ForwardResult noise = model.forward(
                scope, TokenBatch.of(pair.noise()), Hooks.builder().cache(q, k).build());
        return new Attention(
                pair.length(),
                c.nHeads(),
                c.nKvHeads(),
                c.dHead(),
                clean.activation(q).toType(DataType.FLOAT64, false).toDoubleArray(),
                noise.activation(q).toType(DataType.FLOAT64, false).toDoubleArray(),
                clean.activation(k).toType(DataType.FLOAT64, false).toDoubleArray(),
                noise.activation(k).toType(DataType.FLOAT64, false).toDoubleArray(),
                clean.activation(scores).toType(DataType.FLOAT64, false).toDoubleArray(),
                c.attnScale(layer),
                c.attnSoftcap());
    }

    private static double[] softmax(double[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : x) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = Math.exp(x[i] - max);
            sum += out[i];
        }
        for (int i = 0; i < x.length; i++) {
            out[i] /= sum;
        }
        return out;
    }
}
