package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.features.Dictionary;
import dev.patchbay.features.FeatureEdges;
import dev.patchbay.features.FeatureNode;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
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
 * Exact patching of feature edges between two dictionaries for one pair (issue 33): for the edge u@t' -> d@t, the
 * clean run with u's change added at t' ((f_u(noise) - f_u(clean))_t' W_dec_U[u], or an error term's change) gives
 * d's activation there, f_d'(t) (or the downstream error term); the edge's effect is the metric's change when the
 * clean run's downstream site gets (f_d'(t) - f_d(t)) W_dec_D[d] (or the error's change) at t and nothing else
 * changes: u's effect through d alone. Two batched forwards per chunk of edges.
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
                    Hooks.builder().cache(upstream.inputSite(), upstream.site()).build());
            MetricBatch one = new MetricBatch(scope, List.of(pair.metric()), new int[1], null);
            double cleanMetric =
                    one.apply(clean.logits()).toType(DataType.FLOAT64, false).getDouble(0);
            Clean up = Clean.of(upstream, clean);
            Clean down = Clean.of(downstream, clean);
            NDArray noiseIn =
                    Dictionary.flat(noise.activation(upstream.inputSite())).get(0);
            NDArray upstreamChange = upstream.encode(noiseIn).sub(up.features);
            // The upstream error term's change: the site's change less the features' decoded change (and a skip term).
            NDArray upstreamErrorChange = Dictionary.flat(noise.activation(upstream.site()))
                    .get(0)
                    .sub(up.site)
                    .sub(upstreamChange.matMul(upstream.decoder()));
            if (upstream.skip() != null) {
                upstreamErrorChange = upstreamErrorChange.sub(upstream.skipTerm(noiseIn.sub(up.input)));
            }
            for (int from = 0; from < edges.size(); from += rows) {
                List<FeatureEdges.Edge> chunk = edges.subList(from, Math.min(edges.size(), from + rows));
                double[] chunkEffects =
                        chunk(model, scope, chunk, upstreamChange, upstreamErrorChange, up, down, cleanMetric);
                System.arraycopy(chunkEffects, 0, effects, from, chunk.size());
            }
        }
        return effects;
    }

    /** A dictionary's clean input [T, d_in], site value [T, d_out] and features [T, width]. */
    private record Clean(NDArray input, NDArray site, NDArray features, NDArray siteValue) {
        static Clean of(Dictionary d, ForwardResult clean) {
            NDArray input = Dictionary.flat(clean.activation(d.inputSite())).get(0);
            NDArray site = Dictionary.flat(clean.activation(d.site())).get(0);
            return new Clean(
                    input, site, d.encode(input), clean.activation(d.site()).get(0));
        }
    }

    private double[] chunk(
            HookedTransformer model,
            NDManager scope,
            List<FeatureEdges.Edge> chunk,
            NDArray upstreamChange,
            NDArray upstreamErrorChange,
            Clean up,
            Clean down,
            double cleanMetric) {
        try (NDManager work = scope.newSubManager()) {
            int n = chunk.size();
            int[][] tokens = new int[n][];
            Arrays.fill(tokens, pair.clean());
            int[] positions = new int[n];
            Arrays.fill(positions, pair.metricPosition());
            // First: the upstream node's change added, reading the downstream dictionary's input and site.
            List<String> order = HookSites.all(model.config());
            String last = order.indexOf(downstream.site()) > order.indexOf(downstream.inputSite())
                    ? downstream.site()
                    : downstream.inputSite();
            Hooks.Builder first = Hooks.builder().cache(downstream.inputSite(), downstream.site());
            for (int r = 0; r < n; r++) {
                FeatureNode u = chunk.get(r).from();
                NDArray change = u.isError()
                        ? Scoped.view(work, upstreamErrorChange).get(u.position())
                        : Scalars.times(
                                Scoped.view(work, upstream.decoder()).get(u.feature()),
                                scalar(upstreamChange.get(u.position(), u.feature())));
                first.patch(upstream.site(), Patch.whole(r, at(work, up.siteValue, change, u.position())));
            }
            ForwardResult changed = model.forward(
                    work, TokenBatch.of(tokens), first.stopAfter(last).build());
            NDArray input = Dictionary.flat(changed.activation(downstream.inputSite()));
            NDArray after = downstream.encode(input);
            // Second: only the downstream node's resulting change, at the downstream site.
            Hooks.Builder second = Hooks.builder().unembedOnly(positions);
            for (int r = 0; r < n; r++) {
                FeatureNode d = chunk.get(r).to();
                int t = d.position();
                NDArray change;
                if (d.isError()) {
                    NDArray featuresAfter = after.get(r).get(t);
                    NDArray errorAfter = Dictionary.flat(changed.activation(downstream.site()))
                            .get(r)
                            .get(t)
                            .sub(downstream.reconstruct(
                                    featuresAfter, input.get(r).get(t)));
                    NDArray errorBefore = Scoped.view(work, down.site)
                            .get(t)
                            .sub(downstream.reconstruct(
                                    Scoped.view(work, down.features).get(t),
                                    Scoped.view(work, down.input).get(t)));
                    change = errorAfter.sub(errorBefore);
                } else {
                    change = Scalars.times(
                            Scoped.view(work, downstream.decoder()).get(d.feature()),
                            scalar(after.get(r, t, d.feature())) - scalar(down.features.get(t, d.feature())));
                }
                second.patch(downstream.site(), Patch.whole(r, at(work, down.siteValue, change, t)));
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

    /** The site's clean value [T, ...] with {@code change} (a vector of the site's flattened width) added at a position. */
    private static NDArray at(NDManager work, NDArray site, NDArray change, int position) {
        NDArray flat = Dictionary.flat(Scoped.view(work, site).expandDims(0)).get(0);
        NDArray added = flat.zerosLike();
        added.set(new NDIndex("{}", position), change);
        return flat.add(added).reshape(site.getShape());
    }
}
