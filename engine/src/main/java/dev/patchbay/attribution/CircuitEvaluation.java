package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.CircuitBatch;
import dev.patchbay.passes.EdgeSites;
import dev.patchbay.passes.ForwardPass;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.apache.commons.statistics.distribution.TDistribution;

/**
 * Evaluates circuits (docs/spec/atp-spec.md section 10): each pair's clean prompt run with every edge outside the
 * circuit ablated, and the faithfulness (m(C) - m(empty)) / (m(full) - m(empty)) per pair and as a mean with a 95%
 * confidence interval. The ablated value of a writer is, per {@link Ablation}: its output on the pair's noise prompt,
 * zero, its mean output over the pairs' clean prompts, or its output on another pair's clean prompt, drawn per pair.
 */
public final class CircuitEvaluation implements AutoCloseable {
    /** Faithfulness per pair, their mean and its 95% confidence interval (Student's t; NaN for one pair). */
    public record Faithfulness(double[] perPair, double mean, double low, double high) {}

    private final PassRunner runner;
    private final List<PromptPair> pairs;
    private final EdgeGraph graph;
    private final Ablation ablation;
    /** Per pair, the pair whose clean prompt its resample ablation takes (drawn once, so circuits compare alike). */
    private final int[] resampleSources;

    private final int chunk;
    private final NDManager scope;
    /** Per pair, each writer's clean output [pairs, writers, T, d] (resample and mean draw from these). */
    private final NDArray cleanOutputs;
    /** Per pair, the ablated writer values for the non-random ablations [pairs, writers, T, d]. */
    private final NDArray fixedValues;

    /** Per pair, the writer values its ablation takes [writers, T, d], and its reference log-probabilities [1, V]. */
    private final List<NDArray> ablatedValues = new ArrayList<>();

    private final List<NDArray> referenceRows = new ArrayList<>();
    /** The full and the empty circuit's metrics per pair, once measured. */
    private double[] full;

    private double[] empty;
    /** Circuit runs so far (one per circuit and pair). */
    private long rows;

    /**
     * @param seed the resample draws' seed
     * @param chunk circuit runs per forward pass
     */
    public CircuitEvaluation(PassRunner runner, List<PromptPair> pairs, Ablation ablation, long seed, int chunk) {
        HookedTransformer model = runner.model();
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("pairs: at least one prompt pair is needed");
        }
        for (int i = 0; i < pairs.size(); i++) {
            if (pairs.get(i).length() != pairs.get(0).length()) {
                throw new IllegalArgumentException("pairs[" + i + "]: circuit evaluation needs pairs of one length ("
                        + pairs.get(0).length() + " tokens), this one has "
                        + pairs.get(i).length());
            }
        }
        if (ablation == Ablation.RESAMPLE && pairs.size() < 2) {
            throw new IllegalArgumentException("resample ablation draws from other pairs: give at least two");
        }
        this.runner = runner;
        this.pairs = pairs;
        this.graph = new EdgeGraph(model.config());
        this.ablation = ablation;
        this.resampleSources = new int[pairs.size()];
        Random random = new Random(seed);
        for (int p = 0; p < pairs.size() && ablation == Ablation.RESAMPLE; p++) {
            int j = random.nextInt(pairs.size() - 1);
            resampleSources[p] = j >= p ? j + 1 : j;
        }
        this.chunk = chunk;
        this.scope = model.compute().newScope();
        try {
            CleanWriters clean = CleanWriters.of(runner, scope, pairs);
            cleanOutputs = clean.outputs();
            NDList noise = new NDList();
            if (ablation == Ablation.NOISE_PROMPT) {
                Set<String> sites = new java.util.LinkedHashSet<>(EdgeSites.writerSites(model.config()));
                for (PromptPair pair : pairs) {
                    noise.add(CircuitBatch.writerOutputs(
                            model,
                            runner.run(new ForwardPass(scope, pair.noise(), sites, false))
                                    .sites()));
                }
            }
            fixedValues = switch (ablation) {
                case NOISE_PROMPT -> NDArrays.stack(noise);
                case ZERO -> cleanOutputs.zerosLike();
                case MEAN -> cleanOutputs.mean(new int[] {0}, true).broadcast(cleanOutputs.getShape());
                case RESAMPLE -> null;
            };
            // Each pair's rows take the same slices in every circuit: made once, not once per run.
            for (int p = 0; p < pairs.size(); p++) {
                ablatedValues.add(
                        ablation == Ablation.RESAMPLE
                                ? cleanOutputs.get(new NDIndex("{}", resampleSources[p]))
                                : fixedValues.get(new NDIndex("{}", p)));
                referenceRows.add(clean.references().get(p));
            }
        } catch (RuntimeException e) {
            scope.close();
            throw e;
        }
    }

    /** Every edge of the model: the full circuit. */
    public Set<Edge> allEdges() {
        Set<Edge> all = new java.util.LinkedHashSet<>();
        for (EdgeGraph.Group g : graph.groups()) {
            for (int i = 0; i < g.edges(); i++) {
                all.add(g.edge(i, null, graph));
            }
        }
        return all;
    }

    /**
     * The metric of every pair's clean prompt with each circuit's complement ablated: [circuit][pair]. Resample
     * takes, for each pair, the clean prompt of another pair drawn once with the seed: every circuit is evaluated on
     * the same draws (common random numbers), so a search comparing circuits compares them alike.
     */
    public double[][] metrics(List<Set<Edge>> circuits) {
        int readers = graph.readers();
        int writers = graph.writers();
        List<CircuitBatch.Row> rows = new ArrayList<>();
        for (Set<Edge> circuit : circuits) {
            float[] mask = ablatedMask(circuit, readers, writers);
            for (int p = 0; p < pairs.size(); p++) {
                PromptPair pair = pairs.get(p);
                rows.add(new CircuitBatch.Row(
                        pair.clean(),
                        ablatedValues.get(p),
                        mask,
                        pair.metric(),
                        pair.metricPosition(),
                        referenceRows.get(p)));
            }
        }
        this.rows += rows.size();
        double[] flat = new double[rows.size()];
        for (int from = 0; from < rows.size(); from += chunk) {
            List<CircuitBatch.Row> part = rows.subList(from, Math.min(rows.size(), from + chunk));
            double[] m = runner.run(new CircuitBatch(part, readers, writers));
            System.arraycopy(m, 0, flat, from, m.length);
        }
        double[][] out = new double[circuits.size()][pairs.size()];
        for (int c = 0; c < circuits.size(); c++) {
            System.arraycopy(flat, c * pairs.size(), out[c], 0, pairs.size());
        }
        return out;
    }

    /** The circuit's faithfulness against the full model and the empty circuit, under this evaluation's ablation. */
    public Faithfulness faithfulness(Set<Edge> circuit) {
        return faithfulness(List.of(circuit)).get(0);
    }

    /** Each circuit's faithfulness, all runs batched together (the full and empty circuits run once per evaluation). */
    public List<Faithfulness> faithfulness(List<Set<Edge>> circuits) {
        Set<Edge> all = allEdges();
        if (full == null) {
            double[][] ends = metrics(List.of(all, Set.of()));
            full = ends[0];
            empty = ends[1];
        }
        List<Set<Edge>> runs = new ArrayList<>();
        for (Set<Edge> c : circuits) {
            if (!c.isEmpty() && !c.containsAll(all)) {
                runs.add(c);
            }
        }
        double[][] m = metrics(runs);
        List<Faithfulness> out = new ArrayList<>();
        int next = 0;
        for (Set<Edge> circuit : circuits) {
            // The full and the empty circuit are read from the one run of each, so their faithfulness is 1 and 0
            // exactly (two runs of the same circuit in different batch rows may differ by rounding).
            double[] measured = circuit.isEmpty() ? empty : circuit.containsAll(all) ? full : m[next++];
            double[] perPair = new double[pairs.size()];
            for (int p = 0; p < perPair.length; p++) {
                perPair[p] = (measured[p] - empty[p]) / (full[p] - empty[p]);
            }
            out.add(summary(perPair));
        }
        return out;
    }

    /** Circuit runs spent so far, over all pairs, per pair: forward passes in the paper's unit. */
    public double forwardPasses() {
        return (double) rows / pairs.size();
    }

    /** A point of a prune curve: the top {@code size} edges of a ranking as a circuit, and its faithfulness. */
    public record CurvePoint(int size, Faithfulness faithfulness) {}

    /**
     * The prune curve of a ranking (edges, most important first): the faithfulness of its top n edges for each n of
     * {@code sizes}, the points handed to {@code listener} as each chunk of them completes.
     */
    public List<CurvePoint> pruneCurve(
            List<Edge> ranking, int[] sizes, java.util.function.Consumer<CurvePoint> listener) {
        List<CurvePoint> points = new ArrayList<>();
        int perChunk = Math.max(1, chunk / pairs.size());
        for (int from = 0; from < sizes.length; from += perChunk) {
            List<Set<Edge>> circuits = new ArrayList<>();
            int to = Math.min(sizes.length, from + perChunk);
            for (int i = from; i < to; i++) {
                if (sizes[i] < 0 || sizes[i] > ranking.size()) {
                    throw new IllegalArgumentException(
                            "sizes[" + i + "]: " + sizes[i] + " outside [0, " + ranking.size() + "]");
                }
                circuits.add(new java.util.LinkedHashSet<>(ranking.subList(0, sizes[i])));
            }
            List<Faithfulness> f = faithfulness(circuits);
            for (int i = from; i < to; i++) {
                CurvePoint point = new CurvePoint(sizes[i], f.get(i - from));
                points.add(point);
                listener.accept(point);
            }
        }
        return points;
    }

    private static Faithfulness summary(double[] perPair) {
        double mean = 0;
        for (double f : perPair) {
            mean += f / perPair.length;
        }
        if (perPair.length < 2) {
            return new Faithfulness(perPair, mean, Double.NaN, Double.NaN);
        }
        double variance = 0;
        for (double f : perPair) {
            variance += (f - mean) * (f - mean) / (perPair.length - 1);
        }
        double half = TDistribution.of(perPair.length - 1).inverseCumulativeProbability(0.975)
                * Math.sqrt(variance / perPair.length);
        return new Faithfulness(perPair, mean, mean - half, mean + half);
    }

    /** 1 for every edge of the model outside the circuit: [readers, writers], row-major. */
    private float[] ablatedMask(Set<Edge> circuit, int readers, int writers) {
        float[] mask = new float[readers * writers];
        for (EdgeGraph.Group g : graph.groups()) {
            for (int i = 0; i < g.edges(); i++) {
                Edge e = g.edge(i, null, graph);
                if (!circuit.contains(e)) {
                    mask[graph.readerIndex(e.reader()) * writers + graph.index(e.writer())] = 1;
                }
            }
        }
        for (Edge e : circuit) {
            graph.check(e, pairs.get(0).length());
            if (e.position() >= 0) {
                throw new IllegalArgumentException("circuit: edge " + e.name() + " is at one position; circuits are"
                        + " of edges over all positions");
            }
        }
        return mask;
    }

    @Override
    public void close() {
        scope.close();
    }
}
