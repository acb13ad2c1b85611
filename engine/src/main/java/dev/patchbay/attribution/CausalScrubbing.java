package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.ScrubBatch;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.apache.commons.statistics.distribution.TDistribution;

/**
 * Causal scrubbing (Chan et al. 2022; docs/spec/atp-spec.md section 11) of a hypothesis about the model's edges: each
 * claimed edge carries the writer's output only through a feature of the input, given as a label per input (inputs
 * with equal labels are claimed interchangeable for that edge). The model's output is rebuilt as a tree from the
 * logits down: a claimed edge's writer is run on an input drawn among those with the same label as the input its
 * reader is computed for, recursively through the claimed edges; every unclaimed edge into a reader takes the writer's
 * output on one random input of the distribution, drawn for that reader's node of the tree.
 *
 * <p>The inputs are the pairs' clean prompts; each sample's reference is a pair, and its metric is the pair's. The
 * fraction of the behaviour the hypothesis explains is (E[scrubbed] - E[resampled]) / (E[original] - E[resampled]),
 * where resampled is the pair's metric on a random input (every edge unclaimed): a ratio of means, with a 95% delta
 * method confidence interval.
 */
public final class CausalScrubbing implements AutoCloseable {
    /** The largest total of source values one chunk of samples keeps, in bytes. */
    static final long CHUNK_BYTES = 256L << 20;

    /**
     * One claim of a hypothesis: {@code part} is an edge ("L0H1->L1H0.k") or a writer ("embed", "L1H0", "L2.mlp"),
     * which stands for its edges into the other claimed writers' readers and into the logits; {@code labels} has one
     * label per pair. An edge claimed by name takes its own labels over its writer's.
     */
    public record Claim(String part, List<String> labels) {}

    /** One scrubbed sample: its reference pair, and the pair's metric on it, scrubbed and on a random input. */
    public record Sample(int index, int pair, double original, double scrubbed, double resampled) {}

    /**
     * All samples, the fraction recovered with its 95% interval (NaN bounds for one sample), the means, and the cost:
     * model runs in all (every node of every tree with a claimed edge into it, and the roots).
     */
    public record Result(
            List<Sample> samples,
            double recovered,
            double low,
            double high,
            double original,
            double scrubbed,
            double resampled,
            long runs) {}

    /** A claimed edge: its reader's and writer's numbers, and each input's class (inputs of one label share one). */
    private record Claimed(Edge edge, int reader, int writer, int[] classOf, int[][] members) {}

    private final PassRunner runner;
    private final List<PromptPair> pairs;
    private final Hypothesis hypothesis;
    private final int chunk;

    private final NDManager scope;
    /** Each input's writer outputs on its own [inputs, writers, T, d]: the values of unclaimed edges. */
    private final NDArray plain;

    /** Each pair's clean log-probabilities at its metric position [1, V]. */
    private final List<NDArray> references;

    /**
     * A hypothesis checked against a model's shape and a distribution: its claimed edges, and the model runs a
     * sample's tree takes. Refuses, naming the field, a claim that is not an edge or a writer of the model, labels
     * that are not one per pair, a part claimed twice, and a tree whose values would not fit in memory.
     */
    public static final class Hypothesis {
        private final ModelConfig config;
        private final EdgeGraph graph;
        /** The inputs (pairs) the labels are for. */
        private final int inputs;
        /** Claimed edges into each reader, by reader number. */
        private final Map<Integer, List<Claimed>> claimedInto = new HashMap<>();

        private final long runsPerSample;

        public static Hypothesis of(ModelConfig config, List<PromptPair> pairs, List<Claim> claims) {
            return new Hypothesis(config, pairs, claims);
        }

        private Hypothesis(ModelConfig config, List<PromptPair> pairs, List<Claim> claims) {
            if (pairs.size() < 2) {
                throw new IllegalArgumentException("pairs: causal scrubbing resamples among inputs; give at least two");
            }
            for (int i = 0; i < pairs.size(); i++) {
                if (pairs.get(i).length() != pairs.get(0).length()) {
                    throw new IllegalArgumentException("pairs[" + i + "]: causal scrubbing needs inputs of one length ("
                            + pairs.get(0).length() + " tokens), this one has "
                            + pairs.get(i).length());
                }
            }
            this.config = config;
            this.graph = new EdgeGraph(config);
            this.inputs = pairs.size();
            for (Claimed c : claimed(pairs, claims)) {
                claimedInto.computeIfAbsent(c.reader(), r -> new ArrayList<>()).add(c);
            }
            // The root's run, its children's, and the run of the reference's metric on its random input.
            this.runsPerSample = runs(-1, new HashMap<>()) + 1;
            long valueBytes = (long) pairs.get(0).length() * config.dModel() * 8;
            if (runsPerSample > CHUNK_BYTES / valueBytes) {
                throw new IllegalArgumentException("claims: the hypothesis unfolds into " + runsPerSample
                        + " model runs per sample, more than the " + CHUNK_BYTES / valueBytes
                        + " whose values fit in memory at this length; claim fewer edges along its deepest paths");
            }
        }

        /** Model runs per sample: the tree's nodes that have a claimed edge into them, its root, and the resampled run. */
        public long runsPerSample() {
            return runsPerSample;
        }

        /** The claimed edges, claimed writers unfolded into theirs. */
        public List<Edge> edges() {
            return claimedInto.values().stream()
                    .flatMap(List::stream)
                    .map(Claimed::edge)
                    .sorted(java.util.Comparator.comparingInt((Edge e) -> graph.readerIndex(e.reader()))
                            .thenComparingInt(e -> graph.index(e.writer())))
                    .toList();
        }

        private List<Claimed> into(int reader) {
            return claimedInto.getOrDefault(reader, List.of());
        }

        /** The readers of a writer's output: a head's query, key and value inputs, an MLP's input; -1's: the logits. */
        private int[] readers(int writer) {
            if (writer == 0) {
                return new int[0];
            }
            if (writer < 0) {
                return new int[] {graph.readerIndex(Edge.Reader.LOGITS)};
            }
            Edge.Writer w = graph.writer(writer);
            if (w.kind() == Edge.WriterKind.MLP) {
                return new int[] {graph.readerIndex(new Edge.Reader(Edge.ReaderKind.MLP, w.layer(), 0))};
            }
            int group = config.nHeads() / config.nKvHeads();
            return new int[] {
                graph.readerIndex(new Edge.Reader(Edge.ReaderKind.QUERY, w.layer(), w.unit())),
                graph.readerIndex(new Edge.Reader(Edge.ReaderKind.KEY, w.layer(), w.unit() / group)),
                graph.readerIndex(new Edge.Reader(Edge.ReaderKind.VALUE, w.layer(), w.unit() / group))
            };
        }

        /** Model runs of the tree below {@code writer}: its own (if a claimed edge enters it) and its children's. */
        private long runs(int writer, Map<Integer, Long> memo) {
            Long known = memo.get(writer);
            if (known != null) {
                return known;
            }
            long total = 0;
            for (int reader : readers(writer)) {
                for (Claimed c : into(reader)) {
                    total = Math.addExact(total, runs(c.writer(), memo));
                    total = Math.min(total, Long.MAX_VALUE / 4);
                }
            }
            // A writer with no claimed edge into it takes its output on a random input from the plain runs.
            boolean claimedInput = false;
            for (int reader : readers(writer)) {
                claimedInput |= !into(reader).isEmpty();
            }
            long mine = writer < 0 || claimedInput ? total + 1 : 0;
            memo.put(writer, mine);
            return mine;
        }

        /** The claimed edges: named edges, and for each claimed writer its edges into the others' readers and the logits. */
        private List<Claimed> claimed(List<PromptPair> pairs, List<Claim> claims) {
            int length = pairs.get(0).length();
            Map<Edge.Writer, List<String>> writers = new LinkedHashMap<>();
            Map<Edge, List<String>> edges = new LinkedHashMap<>();
            for (int i = 0; i < claims.size(); i++) {
                Claim c = claims.get(i);
                String where = "claims[" + i + "]";
                if (c.labels().size() != pairs.size()) {
                    throw new IllegalArgumentException(where + ".labels: "
                            + c.labels().size() + " labels for " + pairs.size() + " pairs; give one per pair");
                }
                Edge e = part(c.part(), where, length);
                boolean known =
                        e.reader().equals(Edge.Reader.LOGITS) && !c.part().contains("->")
                                ? writers.put(e.writer(), c.labels()) != null
                                : edges.put(e, c.labels()) != null;
                if (known) {
                    throw new IllegalArgumentException(where + ".part: '" + c.part() + "' is claimed twice");
                }
            }
            Map<Edge, List<String>> all = new LinkedHashMap<>();
            for (Map.Entry<Edge.Writer, List<String>> u : writers.entrySet()) {
                all.put(new Edge(u.getKey(), Edge.Reader.LOGITS, -1), u.getValue());
                for (Edge.Writer v : writers.keySet()) {
                    int vi = graph.index(v);
                    if (vi == 0) {
                        continue;
                    }
                    for (int reader : readers(vi)) {
                        Edge e = new Edge(u.getKey(), readerNamed(reader), -1);
                        if (graph.index(u.getKey()) < graph.group(e.reader()).writers()) {
                            all.put(e, u.getValue());
                        }
                    }
                }
            }
            all.putAll(edges);
            List<Claimed> out = new ArrayList<>();
            for (Map.Entry<Edge, List<String>> e : all.entrySet()) {
                Map<String, Integer> classes = new HashMap<>();
                int[] classOf = new int[pairs.size()];
                for (int p = 0; p < pairs.size(); p++) {
                    classOf[p] = classes.computeIfAbsent(e.getValue().get(p), k -> classes.size());
                }
                int[][] members = new int[classes.size()][];
                int[] counts = new int[classes.size()];
                for (int k : classOf) {
                    counts[k]++;
                }
                for (int k = 0; k < members.length; k++) {
                    members[k] = new int[counts[k]];
                    counts[k] = 0;
                }
                for (int p = 0; p < classOf.length; p++) {
                    members[classOf[p]][counts[classOf[p]]++] = p;
                }
                Edge edge = e.getKey();
                out.add(new Claimed(
                        edge, graph.readerIndex(edge.reader()), graph.index(edge.writer()), classOf, members));
            }
            return out;
        }

        /** A claim's part as an edge; a writer's name as its edge to the logits. */
        private Edge part(String name, String where, int length) {
            Edge e;
            try {
                e = Edge.parse(name.contains("->") ? name : name + "->logits");
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException(
                        where + ".part: not an edge or a writer name: '" + name + "' (see proto/NODE-NAMES.md)");
            }
            if (e.position() >= 0) {
                throw new IllegalArgumentException(where + ".part: edge " + name + " is at one position; a hypothesis"
                        + " claims edges over all positions");
            }
            try {
                graph.check(e, length);
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException(where + ".part: " + ex.getMessage());
            }
            return e;
        }

        /** Reader number {@code index} as a reader. */
        private Edge.Reader readerNamed(int index) {
            int at = 0;
            for (EdgeGraph.Group g : graph.groups()) {
                if (index < at + g.readers()) {
                    return g.kind() == Edge.ReaderKind.LOGITS
                            ? Edge.Reader.LOGITS
                            : new Edge.Reader(g.kind(), g.layer(), index - at);
                }
                at += g.readers();
            }
            throw new IllegalArgumentException("no reader " + index);
        }
    }

    /** @param chunk model runs per forward pass */
    public CausalScrubbing(PassRunner runner, List<PromptPair> pairs, Hypothesis hypothesis, int chunk) {
        HookedTransformer model = runner.model();
        if (!hypothesis.config.equals(model.config())) {
            throw new IllegalArgumentException("hypothesis: made for another model's shape");
        }
        if (hypothesis.inputs != pairs.size()) {
            throw new IllegalArgumentException(
                    "hypothesis: its labels are for " + hypothesis.inputs + " inputs, not " + pairs.size());
        }
        this.runner = runner;
        this.pairs = pairs;
        this.hypothesis = hypothesis;
        this.chunk = chunk;
        this.scope = model.compute().newScope();
        try {
            CleanWriters clean = CleanWriters.of(runner, scope, pairs);
            plain = clean.outputs();
            references = clean.references();
        } catch (RuntimeException e) {
            scope.close();
            throw e;
        }
    }

    /**
     * Scrubs {@code samples} samples (sample s references pair s mod pairs), handing each to {@code listener} as its
     * chunk completes.
     */
    public Result run(int samples, long seed, Consumer<Sample> listener) {
        if (samples < 2) {
            throw new IllegalArgumentException("samples: at least two, for a confidence interval");
        }
        Random random = new Random(seed);
        long valueBytes = (long) pairs.get(0).length() * runner.model().config().dModel() * 8;
        int perChunk = (int) Math.max(1, Math.min(samples, CHUNK_BYTES / (valueBytes * hypothesis.runsPerSample)));
        double[] original = originals();
        List<Sample> out = new ArrayList<>();
        long runs = pairs.size();
        for (int from = 0; from < samples; from += perChunk) {
            int to = Math.min(samples, from + perChunk);
            try (NDManager values = scope.newSubManager()) {
                List<Node> roots = new ArrayList<>();
                for (int s = from; s < to; s++) {
                    roots.add(build(-1, s % pairs.size(), random));
                }
                runs += evaluate(values, roots);
                for (int s = from; s < to; s++) {
                    Node root = roots.get(s - from);
                    Sample sample = new Sample(s, root.input, original[root.input], root.metric, root.resampled);
                    out.add(sample);
                    listener.accept(sample);
                }
            }
        }
        return summary(out, runs);
    }

    /** A node of one sample's tree: a writer (or, as -1, the logits) computed for {@code input}. */
    private static final class Node {
        final int writer;
        final int input;
        /** The input whose tokens the node's run takes: every unclaimed edge's value comes from it. */
        int random;
        /** Claimed edges into the node's readers, each with the node its writer's value comes from. */
        final List<Map.Entry<Claimed, Node>> children = new ArrayList<>();
        /** The writer's value [T, d], once known. */
        NDArray value;

        double metric;
        double resampled;

        Node(int writer, int input) {
            this.writer = writer;
            this.input = input;
        }
    }

    /**
     * Draws the tree below {@code writer} computed for {@code input}: the random input of its unclaimed edges, and for
     * each claimed edge into its readers an input of the same label, recursively.
     */
    private Node build(int writer, int input, Random random) {
        Node node = new Node(writer, input);
        node.random = random.nextInt(pairs.size());
        for (int reader : hypothesis.readers(writer)) {
            for (Claimed c : hypothesis.into(reader)) {
                int[] members = c.members()[c.classOf()[input]];
                int drawn = members[random.nextInt(members.length)];
                node.children.add(Map.entry(c, build(c.writer(), drawn, random)));
            }
        }
        return node;
    }

    /**
     * Computes the trees bottom up, a stage per writer group (a layer's heads, then its MLP; the roots last), each
     * stage's runs batched; returns the runs made.
     */
    private long evaluate(NDManager values, List<Node> roots) {
        HookedTransformer model = runner.model();
        Map<Integer, List<Node>> stages = new TreeMap<>();
        List<Node> all = new ArrayList<>();
        for (Node root : roots) {
            collect(root, all);
        }
        int perLayer = model.config().nHeads() + 1;
        for (Node n : all) {
            if (n.writer == 0 || (n.writer > 0 && n.children.isEmpty())) {
                // The embeddings, and a writer with no claimed edge in: its output on its input or random input.
                n.value = plain.get(new NDIndex("{}, {}", n.writer == 0 ? n.input : n.random, n.writer));
                n.value.attach(values); // freed with the chunk, not kept with the plain runs
                continue;
            }
            int stage = n.writer < 0
                    ? Integer.MAX_VALUE
                    : 2 * ((n.writer - 1) / perLayer) + ((n.writer - 1) % perLayer == perLayer - 1 ? 1 : 0);
            stages.computeIfAbsent(stage, s -> new ArrayList<>()).add(n);
        }
        long runs = 0;
        int readers = hypothesis.graph.readers();
        for (List<Node> stage : stages.values()) {
            boolean metric = stage.get(0).writer < 0;
            List<ScrubBatch.Row> rows = new ArrayList<>();
            for (Node n : stage) {
                rows.add(row(n));
                if (metric) {
                    rows.add(ScrubBatch.Row.metric(
                            pairs.get(n.random).clean(),
                            List.of(),
                            pairs.get(n.input).metric(),
                            pairs.get(n.input).metricPosition(),
                            references.get(n.input)));
                }
            }
            runs += rows.size();
            for (int from = 0; from < rows.size(); from += chunk) {
                List<ScrubBatch.Row> part = rows.subList(from, Math.min(rows.size(), from + chunk));
                ScrubBatch.Output o = runner.run(new ScrubBatch(values, part, readers));
                for (int i = 0; i < part.size(); i++) {
                    int r = from + i;
                    if (!metric) {
                        stage.get(r).value = o.writes().get(new NDIndex("{}", i));
                    } else if (r % 2 == 0) {
                        stage.get(r / 2).metric = o.metrics()[i];
                    } else {
                        stage.get(r / 2).resampled = o.metrics()[i];
                    }
                }
            }
        }
        return runs;
    }

    /** A node's run: its random input's tokens, each claimed edge into it given its child's value. */
    private ScrubBatch.Row row(Node n) {
        List<ScrubBatch.Source> sources = new ArrayList<>();
        for (Map.Entry<Claimed, Node> child : n.children) {
            Claimed c = child.getKey();
            sources.add(new ScrubBatch.Source(c.reader(), c.writer(), child.getValue().value));
        }
        int[] tokens = pairs.get(n.random).clean();
        if (n.writer >= 0) {
            return ScrubBatch.Row.write(tokens, sources, n.writer);
        }
        PromptPair reference = pairs.get(n.input);
        return ScrubBatch.Row.metric(
                tokens, sources, reference.metric(), reference.metricPosition(), references.get(n.input));
    }

    private static void collect(Node n, List<Node> into) {
        for (Map.Entry<Claimed, Node> child : n.children) {
            collect(child.getValue(), into);
        }
        into.add(n);
    }

    /** Each pair's metric on its own clean prompt. */
    private double[] originals() {
        List<ScrubBatch.Row> rows = new ArrayList<>();
        for (int p = 0; p < pairs.size(); p++) {
            PromptPair pair = pairs.get(p);
            rows.add(ScrubBatch.Row.metric(
                    pair.clean(), List.of(), pair.metric(), pair.metricPosition(), references.get(p)));
        }
        double[] out = new double[rows.size()];
        for (int from = 0; from < rows.size(); from += chunk) {
            List<ScrubBatch.Row> part = rows.subList(from, Math.min(rows.size(), from + chunk));
            double[] m = runner.run(new ScrubBatch(scope, part, hypothesis.graph.readers()))
                    .metrics();
            System.arraycopy(m, 0, out, from, m.length);
        }
        return out;
    }

    private Result summary(List<Sample> samples, long runs) {
        int n = samples.size();
        double a = 0;
        double b = 0;
        double o = 0;
        double s = 0;
        double r = 0;
        for (Sample x : samples) {
            a += (x.scrubbed() - x.resampled()) / n;
            b += (x.original() - x.resampled()) / n;
            o += x.original() / n;
            s += x.scrubbed() / n;
            r += x.resampled() / n;
        }
        double f = a / b;
        // Delta method for a ratio of means: the residuals a_i - f b_i carry its variance.
        double variance = 0;
        for (Sample x : samples) {
            double e = (x.scrubbed() - x.resampled()) - f * (x.original() - x.resampled());
            variance += e * e / (n - 1);
        }
        double half =
                TDistribution.of(n - 1).inverseCumulativeProbability(0.975) * Math.sqrt(variance / n) / Math.abs(b);
        return new Result(samples, f, f - half, f + half, o, s, r, runs);
    }

    @Override
    public void close() {
        scope.close();
    }
}
