package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.features.Dictionary;
import dev.patchbay.features.FeatureEdges;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.model.Scalars;
import dev.patchbay.model.Scoped;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Exact patching of feature edges between two dictionaries for one pair (issue 33, in progress): for the edge u@t' ->
 * d@t, the clean run with u's change (f_u(noise) - f_u(clean))_t' W_dec_U[u] added at t' gives d's activation there,
 * f_d'(t); the edge's effect is the metric's change when the clean run's downstream site gets
 * (f_d'(t) - f_d(t)) W_dec_D[d] at t and nothing else changes: u's effect through d alone. Two batched forwards per
 * chunk of edges. Not yet served.
 *
 * @param rows edges per batch
 */
public record FeatureEdgePatchWork(
        PromptPair pair, Dictionary upstream, Dictionary downstream, List<FeatureEdges.Edge> edges, int rows)
        implements Pass<double[]> {
    public FeatureEdgePatchWork {
        edges = List.copyOf(edges);
        if (rows < 1) {
            throw new IllegalArgumentException("rows: at least 1, got " + rows);
        }
    }

    @Override
    public int rowCount() {
        return Math.min(rows, edges.size());
    }

    @Override
    public int length() {
        return pair.length();
    }

    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        return rowCount() * PassMemory.forwardRowBytes(config, paddedLength, elementBytes, false)
                + 4L * paddedLength * ((long) upstream.width() + downstream.width()) * elementBytes;
    }

    @Override
    public double[] run(PassContext context) {
        return run(context.model());
    }

    /** Each edge's effect on the metric, in order. */
    public double[] run(HookedTransformer model) {
        double[] effects = new double[edges.size()];
        try (NDManager scope = model.compute().newScope()) {
            Hooks sites = Hooks.builder()
                    .cache(upstream.inputSite(), upstream.site(), downstream.inputSite(), downstream.site())
                    .unembedOnly(new int[] {pair.metricPosition()})
                    .build();
            ForwardResult clean = model.forward(scope, TokenBatch.of(pair.clean()), sites);
            ForwardResult noise = model.forward(
                    scope,
                    TokenBatch.of(pair.noise()),
                    Hooks.builder().cache(upstream.inputSite()).build());
            MetricBatch one = new MetricBatch(scope, List.of(pair.metric()), new int[1], null);
            double cleanMetric =
                    one.apply(clean.logits()).toType(DataType.FLOAT64, false).getDouble(0);
            NDArray upstreamChange = upstream.encode(Dictionary.flat(noise.activation(upstream.inputSite())))
                    .sub(upstream.encode(Dictionary.flat(clean.activation(upstream.inputSite()))))
                    .get(0);
            NDArray downstreamClean = downstream
                    .encode(Dictionary.flat(clean.activation(downstream.inputSite())))
                    .get(0);
            NDArray upstreamSite = clean.activation(upstream.site()).get(0);
            NDArray downstreamSite = clean.activation(downstream.site()).get(0);
            for (int from = 0; from < edges.size(); from += rows) {
                List<FeatureEdges.Edge> chunk = edges.subList(from, Math.min(edges.size(), from + rows));
                double[] chunkEffects = chunk(
                        model,
                        scope,
                        chunk,
                        upstreamChange,
                        downstreamClean,
                        upstreamSite,
                        downstreamSite,
                        cleanMetric);
                System.arraycopy(chunkEffects, 0, effects, from, chunk.size());
            }
        }
        return effects;
    }

    private double[] chunk(
            HookedTransformer model,
            NDManager scope,
            List<FeatureEdges.Edge> chunk,
            NDArray upstreamChange,
            NDArray downstreamClean,
            NDArray upstreamSite,
            NDArray downstreamSite,
            double cleanMetric) {
        try (NDManager work = scope.newSubManager()) {
            int n = chunk.size();
            int[][] tokens = new int[n][];
            Arrays.fill(tokens, pair.clean());
            int[] positions = new int[n];
            Arrays.fill(positions, pair.metricPosition());
            // First: the upstream feature's change added, reading the downstream dictionary's input.
            Hooks.Builder first = Hooks.builder().cache(downstream.inputSite());
            for (int r = 0; r < n; r++) {
                FeatureEdges.Edge e = chunk.get(r);
                first.patch(
                        upstream.site(),
                        Patch.whole(
                                r,
                                at(
                                        work,
                                        upstreamSite,
                                        upstream,
                                        e.from().feature(),
                                        e.from().position(),
                                        scalar(upstreamChange.get(
                                                e.from().position(), e.from().feature())))));
            }
            ForwardResult changed = model.forward(
                    work,
                    TokenBatch.of(tokens),
                    first.stopAfter(downstream.inputSite()).build());
            NDArray after = downstream.encode(Dictionary.flat(changed.activation(downstream.inputSite())));
            // Second: only the downstream feature's resulting change, at the downstream site.
            Hooks.Builder second = Hooks.builder().unembedOnly(positions);
            for (int r = 0; r < n; r++) {
                FeatureEdges.Edge e = chunk.get(r);
                int t = e.to().position();
                int d = e.to().feature();
                double change = scalar(after.get(r, t, d)) - scalar(downstreamClean.get(t, d));
                second.patch(downstream.site(), Patch.whole(r, at(work, downstreamSite, downstream, d, t, change)));
            }
            ForwardResult patched = model.forward(work, TokenBatch.of(tokens), second.build());
            List<dev.patchbay.nodes.Metric> metrics = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                metrics.add(pair.metric());
            }
            double[] values = new MetricBatch(work, metrics, new int[n], null)
                    .apply(patched.logits())
                    .toType(DataType.FLOAT64, false)
                    .toDoubleArray();
            for (int r = 0; r < n; r++) {
                values[r] -= cleanMetric;
            }
            return values;
        }
    }

    /** One element as a double, whatever the compute type (NDArray.getDouble insists on float64). */
    private static double scalar(NDArray element) {
        return element.toType(DataType.FLOAT64, false).getDouble();
    }

    /** The site's clean value [T, ...] with {@code amount} x W_dec[feature] added at {@code position}. */
    private static NDArray at(NDManager work, NDArray site, Dictionary d, int feature, int position, double amount) {
        NDArray flat = Dictionary.flat(Scoped.view(work, site).expandDims(0)).get(0);
        NDArray added = flat.zerosLike();
        added.set(
                new NDIndex("{}", position),
                Scalars.times(Scoped.view(work, d.decoder()).get(feature), amount));
        return flat.add(added).reshape(site.getShape());
    }
}
