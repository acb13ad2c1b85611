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
import dev.patchbay.model.Scalars;
import dev.patchbay.model.Scoped;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * EAP over the edges between the features and error terms of two dictionaries (issue 33; the sparse-feature-circuits
 * recipe, Marks et al. 2024): for one pair, the downstream dictionary's {@code downstreamNodes} nodes of largest |AtP
 * estimate| (changed features and error terms), and into each, every upstream feature that changed and every upstream
 * error term at a position at or before it. An error term's edge is its change dotted with the same Jacobian; into a
 * downstream error term, the node is the error dotted with the metric's gradient there, with weight 1. A feature
 * edge u@t' -> d@t is estimated, to first order at the clean run, as
 * (f_u(noise) - f_u(clean))_t' (W_dec_U[u] . df_d(t)/dx_U(t')) (W_dec_D[d] . g_D(t)), with g_D the metric's gradient
 * at the downstream site: the upstream feature's change, carried to the downstream feature by the model between the
 * two sites (every other path held), times that feature's effect on the metric. df_d(t)/dx_U is one backward per
 * downstream node from its input site: d's encoder column where the feature is active in the clean run (where it is not,
 * the first-order estimate of every edge into it is 0, as EAP's is).
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
            DictionaryChanges up =
                    DictionaryChanges.of(scope, upstream, clean, noise).row(0);
            DictionaryChanges down =
                    DictionaryChanges.of(scope, downstream, clean, noise).row(0);
            NDArray downstreamGradient = Dictionary.flat(view(scope, clean.gradient(downstream.site())))
                    .get(0);
            // Each downstream feature's effect on the metric per unit of activation, W_dec_D[d] . g_D(t).
            NDArray weight = downstreamGradient.matMul(downstream.decoderTransposed(scope));
            NDArray featureAtP = down.features().mul(weight);
            NDArray errorAtP = down.errorEstimates(downstreamGradient, featureAtP);
            List<FeatureNode> chosen = topDownstream(featureAtP, down.features(), errorAtP);
            double[] weightValues = weight.toType(DataType.FLOAT64, false).toDoubleArray();
            double[] activeClean =
                    down.cleanFeatures().toType(DataType.FLOAT64, false).toDoubleArray();
            int width = downstream.width();
            NDArray changed = up.features().neq(0);
            long[] where = changed.nonzero().toLongArray();
            double[] changes = up.features()
                    .booleanMask(changed)
                    .toType(DataType.FLOAT64, false)
                    .toDoubleArray();
            NDArray inputShape = clean.activation(downstream.inputSite());
            NDArray siteShape = clean.activation(downstream.site());
            List<FeatureEdges.Edge> edges = new ArrayList<>();
            for (FeatureNode d : chosen) {
                if (!d.isError() && activeClean[d.position() * width + d.feature()] == 0) {
                    continue; // inactive at the clean run: its first-order edges are all 0
                }
                session.zeroGradients(List.of(upstream.site()));
                try (NDManager push = scope.newSubManager()) {
                    pushBack(push, session, d, down, downstreamGradient, weight, inputShape, siteShape);
                    NDArray g = Dictionary.flat(view(push, clean.gradient(upstream.site())))
                            .get(0);
                    NDArray projectedArray = g.matMul(upstream.decoderTransposed(push));
                    double[] projected =
                            projectedArray.toType(DataType.FLOAT64, false).toDoubleArray();
                    // The upstream error term's change at each position, dotted with the same gradient.
                    double[] errorChange = up.errorEstimates(g, up.features().mul(projectedArray))
                            .toType(DataType.FLOAT64, false)
                            .toDoubleArray();
                    double w = d.isError() ? 1 : weightValues[d.position() * width + d.feature()];
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
                    for (int t = 0; t <= d.position(); t++) {
                        edges.add(new FeatureEdges.Edge(
                                new FeatureNode(upstream.layer(), upstream.shortSite(), FeatureNode.ERROR, t),
                                d,
                                errorChange[t] * w));
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

    /**
     * The downstream nodes of largest |AtP estimate|, at most {@code downstreamNodes}: features that changed, [T, width]
     * estimates, and the error term at every position, [T].
     */
    private List<FeatureNode> topDownstream(NDArray featureAtP, NDArray change, NDArray errorAtP) {
        NDArray changedMask = change.neq(0);
        long[] where = changedMask.nonzero().toLongArray();
        double[] values = featureAtP
                .booleanMask(changedMask)
                .toType(DataType.FLOAT64, false)
                .toDoubleArray();
        double[] errors = errorAtP.toType(DataType.FLOAT64, false).toDoubleArray();
        List<FeatureNode> nodes = new ArrayList<>();
        List<Double> estimates = new ArrayList<>();
        for (int e = 0; e < values.length; e++) {
            nodes.add(new FeatureNode(
                    downstream.layer(), downstream.shortSite(), (int) where[2 * e + 1], (int) where[2 * e]));
            estimates.add(values[e]);
        }
        for (int t = 0; t < errors.length; t++) {
            nodes.add(new FeatureNode(downstream.layer(), downstream.shortSite(), FeatureNode.ERROR, t));
            estimates.add(errors[t]);
        }
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < nodes.size(); i++) {
            order.add(i);
        }
        order.sort((a, b) -> Double.compare(Math.abs(estimates.get(b)), Math.abs(estimates.get(a))));
        return order.subList(0, Math.min(downstreamNodes, order.size())).stream()
                .map(nodes::get)
                .toList();
    }

    /**
     * Pushes back, from the downstream dictionary's sites, the gradient of node {@code d} of the clean run: a feature
     * is its encoder column at its input (where it is active); the error term, dotted with the metric's gradient g
     * there, is g at the site less, at the input, what the features and a skip transcoder's skip term take of it.
     */
    private void pushBack(
            NDManager push,
            GradientSession session,
            FeatureNode d,
            DictionaryChanges down,
            NDArray downstreamGradient,
            NDArray weight,
            NDArray inputShape,
            NDArray siteShape) {
        NDIndex at = new NDIndex("0, {}", d.position());
        NDArray input = push.zeros(Dictionary.flat(inputShape).getShape(), inputShape.getDataType());
        NDArray encoder = Scoped.view(push, downstream.encoder());
        if (!d.isError()) {
            input.set(at, encoder.get(new NDIndex(":, {}", d.feature())));
            session.backwardFrom(downstream.inputSite(), input.reshape(inputShape.getShape()));
            return;
        }
        NDArray g = Scoped.view(push, downstreamGradient).get(d.position());
        NDArray active =
                Scoped.view(push, down.cleanFeatures()).get(d.position()).neq(0).toType(g.getDataType(), false);
        NDArray throughFeatures =
                encoder.matMul(active.mul(Scoped.view(push, weight).get(d.position())));
        NDArray taken = downstream.skip() == null
                ? throughFeatures
                : throughFeatures.add(
                        Scoped.view(push, downstream.skip()).transpose().matMul(g));
        if (downstream.isTranscoder()) {
            NDArray output = push.zeros(Dictionary.flat(siteShape).getShape(), siteShape.getDataType());
            output.set(at, g);
            session.backwardFrom(downstream.site(), output.reshape(siteShape.getShape()));
            input.set(at, Scalars.times(taken, -1));
        } else {
            input.set(at, g.sub(taken));
        }
        session.backwardFrom(downstream.inputSite(), input.reshape(inputShape.getShape()));
    }

    private static NDArray view(NDManager scope, NDArray array) {
        return Scoped.view(scope, array);
    }
}
