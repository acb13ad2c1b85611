package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.features.Dictionary;
import dev.patchbay.features.FeatureEdges;
import dev.patchbay.features.FeatureNode;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.GradientSession;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Scoped;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * EAP over the edges between the features of two dictionaries (issue 33, in progress; the sparse-feature-circuits
 * recipe, Marks et al. 2024): for one pair, the downstream dictionary's {@code downstreamNodes} features of largest
 * |AtP estimate| (changed between the runs), and for each, every upstream feature that changed at a position at or
 * before it. The edge u@t' -> d@t is estimated, to first order at the clean run, as
 * (f_u(noise) - f_u(clean))_t' (W_dec_U[u] . df_d(t)/dx_U(t')) (W_dec_D[d] . g_D(t)), with g_D the metric's gradient
 * at the downstream site: the upstream feature's change, carried to the downstream feature by the model between the
 * two sites (every other path held), times that feature's effect on the metric. df_d(t)/dx_U is one backward per
 * downstream node from its input site: d's encoder column where the feature is active in the clean run (where it is not,
 * the first-order estimate of every edge into it is 0, as EAP's is). Not yet served; the oracle is finite differences
 * of the downstream feature.
 */
public record FeatureEdgeWork(PromptPair pair, Dictionary upstream, Dictionary downstream, int downstreamNodes)
        implements Pass<FeatureEdges> {
    public FeatureEdgeWork {
        if (downstreamNodes < 1) {
            throw new IllegalArgumentException("downstream nodes: at least 1, got " + downstreamNodes);
        }
    }

    @Override
    public int rowCount() {
        return 1;
    }

    @Override
    public int length() {
        return pair.length();
    }

    /** The plain AtP pass's row and both dictionaries' dense [T, width] arrays (six each). */
    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        return PassMemory.gradientRowBytes(config, paddedLength, elementBytes, false, false)
                + 6L * paddedLength * ((long) upstream.width() + downstream.width()) * elementBytes;
    }

    @Override
    public FeatureEdges run(PassContext context) {
        return run(context.model());
    }

    public FeatureEdges run(HookedTransformer model) {
        long start = System.nanoTime();
        List<String> order = HookSites.all(model.config());
        if (order.indexOf(upstream.site()) >= order.indexOf(downstream.inputSite())) {
            throw new IllegalArgumentException("dictionary '" + upstream.name() + "' writes " + upstream.site()
                    + ", which does not come before what '" + downstream.name() + "' reads, " + downstream.inputSite());
        }
        PairBatch batch = PairBatch.of(List.of(pair));
        List<String> sites = List.of(upstream.inputSite(), upstream.site(), downstream.inputSite(), downstream.site());
        try (NDManager scope = model.compute().newScope();
                GradientSession session = model.openGradientSession(
                        scope,
                        batch.clean,
                        Hooks.builder()
                                .cache(sites)
                                .gradient(upstream.site(), downstream.site())
                                .unembedOnly(batch.positions)
                                .build(),
                        batch.unembeddedMetric(scope, null))) {
            ForwardResult clean = session.result();
            session.backward();
            ForwardResult noise = model.forward(
                    scope, batch.noise, Hooks.builder().cache(sites).build());
            NDArray downstreamGradient = Dictionary.flat(view(scope, clean.gradient(downstream.site())));
            NDArray downstreamIn = Dictionary.flat(view(scope, clean.activation(downstream.inputSite())))
                    .stopGradient();
            NDArray downstreamClean = downstream.encode(downstreamIn);
            NDArray downstreamChange = downstream
                    .encode(Dictionary.flat(view(scope, noise.activation(downstream.inputSite()))))
                    .sub(downstreamClean);
            // Each downstream feature's effect on the metric per unit of activation, W_dec_D[d] . g_D(t).
            NDArray weight = downstreamGradient
                    .matMul(downstream.decoderTransposed(scope))
                    .get(0);
            List<FeatureNode> chosen =
                    topDownstream(downstreamChange.mul(weight).get(0), downstreamChange.get(0));
            double[] weightValues = weight.toType(DataType.FLOAT64, false).toDoubleArray();
            int width = downstream.width();
            NDArray upstreamChange = upstream.encode(
                            Dictionary.flat(view(scope, noise.activation(upstream.inputSite()))))
                    .sub(upstream.encode(Dictionary.flat(view(scope, clean.activation(upstream.inputSite())))
                            .stopGradient()))
                    .get(0);
            NDArray changed = upstreamChange.neq(0);
            long[] where = changed.nonzero().toLongArray();
            double[] changes = upstreamChange
                    .booleanMask(changed)
                    .toType(DataType.FLOAT64, false)
                    .toDoubleArray();
            double[] activeClean =
                    downstreamClean.get(0).toType(DataType.FLOAT64, false).toDoubleArray();
            NDArray inputShape = clean.activation(downstream.inputSite());
            List<FeatureEdges.Edge> edges = new ArrayList<>();
            for (FeatureNode d : chosen) {
                if (activeClean[d.position() * width + d.feature()] == 0) {
                    continue; // inactive at the clean run: its first-order edges are all 0
                }
                session.zeroGradients(List.of(upstream.site()));
                try (NDManager push = scope.newSubManager()) {
                    NDArray column = Scoped.view(push, downstream.encoder()).get(new NDIndex(":, {}", d.feature()));
                    NDArray upstreamVector =
                            push.zeros(Dictionary.flat(inputShape).getShape(), column.getDataType());
                    upstreamVector.set(new NDIndex("0, {}", d.position()), column);
                    session.backwardFrom(downstream.inputSite(), upstreamVector.reshape(inputShape.getShape()));
                    NDArray g = Dictionary.flat(view(push, clean.gradient(upstream.site())))
                            .get(0);
                    double[] projected = g.matMul(upstream.decoderTransposed(push))
                            .toType(DataType.FLOAT64, false)
                            .toDoubleArray();
                    double w = weightValues[d.position() * width + d.feature()];
                    for (int e = 0; e < changes.length; e++) {
                        int t = (int) where[2 * e];
                        int u = (int) where[2 * e + 1];
                        if (t > d.position()) {
                            continue; // causal: no edge from a later position
                        }
                        edges.add(new FeatureEdges.Edge(
                                new FeatureNode(upstream.layer(), upstream.shortSite(), u, t),
                                d,
                                changes[e] * projected[t * upstream.width() + u] * w));
                    }
                }
            }
            edges.sort(Comparator.comparingDouble((FeatureEdges.Edge e) -> -Math.abs(e.estimate())));
            // Two forwards and one backward, then one backward per downstream node.
            double passes = 4 + 2.0 * chosen.size();
            return new FeatureEdges(
                    upstream.name(),
                    downstream.name(),
                    chosen,
                    List.copyOf(edges),
                    new Cost(passes, passes, (System.nanoTime() - start) / 1e9));
        }
    }

    /** The downstream features that changed, largest |AtP estimate| first, at most {@code downstreamNodes}. */
    private List<FeatureNode> topDownstream(NDArray estimates, NDArray change) {
        NDArray changedMask = change.neq(0);
        long[] where = changedMask.nonzero().toLongArray();
        double[] values = estimates
                .booleanMask(changedMask)
                .toType(DataType.FLOAT64, false)
                .toDoubleArray();
        List<Integer> order = new ArrayList<>();
        for (int e = 0; e < values.length; e++) {
            order.add(e);
        }
        order.sort((a, b) -> Double.compare(Math.abs(values[b]), Math.abs(values[a])));
        List<FeatureNode> out = new ArrayList<>();
        for (int e : order.subList(0, Math.min(downstreamNodes, order.size()))) {
            out.add(new FeatureNode(
                    downstream.layer(), downstream.shortSite(), (int) where[2 * e + 1], (int) where[2 * e]));
        }
        return out;
    }

    private static NDArray view(NDManager scope, NDArray array) {
        return Scoped.view(scope, array);
    }
}
