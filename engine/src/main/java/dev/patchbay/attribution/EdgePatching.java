package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.EdgeSites;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.PatchBatch;
import dev.patchbay.passes.PatchRow;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Exact edge patching (docs/spec/atp-spec.md section 9), the ground truth of every edge estimate: a reader's input
 * becomes its clean input plus the writer's change (noise output - clean output), everything else clean; a group of
 * edges is patched jointly (a reader's changes add up). Each patched run resumes at its lowest reader's layer, and
 * runs of one layer share a batch. A session runs every pair's clean and noise passes once, then patches any number
 * of groups, a chunk at a time, so that results stream as each chunk completes.
 */
public final class EdgePatching implements GroupPatching<Edge>, AutoCloseable {
    private final PassRunner runner;
    private final List<PromptPair> pairs;
    private final ModelConfig config;
    private final EdgeGraph graph;
    private final int chunk;
    private final List<NDManager> scopes = new ArrayList<>();
    private final List<ActivationPatching.CleanAndNoise> runs = new ArrayList<>();
    /** Per pair, every writer's change [T, writers, d_model]. */
    private final List<NDArray> changes = new ArrayList<>();

    private final ActivationPatching.Tally tally = new ActivationPatching.Tally();
    private final long start = System.nanoTime();
    private EdgeAttribution.Listener progress = EdgeAttribution.Listener.NONE;
    private double plannedPasses;

    /** @param chunk groups per chunk (patched runs per pair between two streamed results) */
    public EdgePatching(PassRunner runner, List<PromptPair> pairs, int chunk) {
        if (chunk < 1) {
            throw new IllegalArgumentException("chunk must be positive");
        }
        this.runner = runner;
        this.pairs = pairs;
        this.config = runner.model().config();
        this.graph = new EdgeGraph(config);
        this.chunk = chunk;
        PairBatch.validate(pairs, dev.patchbay.nodes.NodeSet.heads(), config);
        List<String> writerSites = EdgeSites.writerSites(config);
        Set<String> cleanSites = new LinkedHashSet<>(writerSites);
        for (int l = 0; l < config.nLayers(); l++) {
            cleanSites.add(HookSites.residPre(l));
            cleanSites.add(EdgeSites.cleanInputSite(Edge.ReaderKind.MLP, l, config));
        }
        cleanSites.add(HookSites.residPost(config.nLayers() - 1));
        try {
            for (PromptPair pair : pairs) {
                NDManager scope = runner.model().compute().newScope();
                scopes.add(scope);
                ActivationPatching.CleanAndNoise run = ActivationPatching.CleanAndNoise.of(
                        runner, scope, pair, cleanSites, new LinkedHashSet<>(writerSites), tally);
                runs.add(run);
                changes.add(EdgeSites.writerChanges(
                                runner.model(),
                                scope,
                                run.clean().sites(),
                                run.noise().sites())
                        .get(new NDIndex("0")));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Reports the forward passes run so far, out of {@code plannedPasses}, after every chunk. */
    public EdgePatching reportingTo(EdgeAttribution.Listener listener, double plannedPasses) {
        this.progress = listener;
        this.plannedPasses = plannedPasses;
        return this;
    }

    @Override
    public void patch(List<List<Edge>> groups, Consumer consumer) {
        for (int g = 0; g < groups.size(); g++) {
            if (groups.get(g).isEmpty()) {
                throw new IllegalArgumentException("groups[" + g + "]: no edges");
            }
            for (Edge e : groups.get(g)) {
                graph.check(e, pairs.stream().mapToInt(PromptPair::length).min().orElseThrow());
            }
        }
        for (int from = 0; from < groups.size(); from += chunk) {
            int to = Math.min(groups.size(), from + chunk);
            double[][] perPair = new double[to - from][pairs.size()];
            for (int p = 0; p < pairs.size(); p++) {
                ActivationPatching.CleanAndNoise run = runs.get(p);
                try (NDManager sources = scopes.get(p).newSubManager()) {
                    Map<Integer, List<Integer>> byLayer = new LinkedHashMap<>();
                    for (int g = from; g < to; g++) {
                        byLayer.computeIfAbsent(resumeLayer(groups.get(g)), l -> new ArrayList<>())
                                .add(g);
                    }
                    for (var entry : byLayer.entrySet()) {
                        int layer = entry.getKey();
                        List<PatchRow> rows = new ArrayList<>();
                        for (int g : entry.getValue()) {
                            rows.add(row(sources, pairs.get(p), p, groups.get(g), layer));
                        }
                        double[] metrics = runner.run(new PatchBatch(rows));
                        for (int i = 0; i < rows.size(); i++) {
                            perPair[entry.getValue().get(i) - from][p] = metrics[i] - run.cleanMetric();
                        }
                        tally.rows(rows.size(), (double) (config.nLayers() - layer) / config.nLayers());
                    }
                }
            }
            GroupPatching.report(consumer, from, perPair);
            progress.onProgress((long) tally.passes, (long) Math.ceil(Math.max(plannedPasses, tally.passes)));
        }
    }

    @Override
    public Cost cost() {
        return new Cost(tally.passes, tally.compute, (System.nanoTime() - start) / 1e9);
    }

    /** The clean metric, the mean over pairs. */
    public double cleanMetric() {
        return tally.clean / pairs.size();
    }

    public double noiseMetric() {
        return tally.noise / pairs.size();
    }

    /** One patched run of a group: for each reader, its clean input plus the changes of its edges' writers. */
    private PatchRow row(NDManager sources, PromptPair pair, int p, List<Edge> group, int layer) {
        ActivationPatching.CleanAndNoise run = runs.get(p);
        Map<Edge.Reader, NDArray> inputs = new LinkedHashMap<>();
        NDArray pairChanges = changes.get(p);
        long length = pairChanges.getShape().get(0);
        for (Edge e : group) {
            Edge.Reader r = e.reader();
            NDArray change = pairChanges.get(new NDIndex(":, {}", graph.index(e.writer()))); // [T, d]
            if (e.position() >= 0) {
                float[] mask = new float[(int) length];
                mask[e.position()] = 1;
                change = change.mul(sources.create(mask, new Shape(length, 1)).toType(change.getDataType(), false));
            }
            NDArray before = inputs.get(r);
            if (before == null) {
                String site = EdgeSites.cleanInputSite(r.kind(), r.layer(), config);
                before = run.clean().sites().get(site).get(new NDIndex("0"));
            }
            NDArray sum = before.add(change);
            sum.attach(sources);
            inputs.put(r, sum);
        }
        List<PatchRow.SitePatch> patches = new ArrayList<>();
        inputs.forEach((r, input) -> patches.add(new PatchRow.SitePatch(
                EdgeSites.readerSite(r.kind(), r.layer(), config),
                Patch.of(0, input, null, r.kind().perHead() ? new int[] {r.unit()} : null))));
        return new PatchRow(
                pair.clean(),
                layer,
                run.clean().sites().get(HookSites.residPre(layer)),
                patches,
                pair.metric(),
                pair.metricPosition(),
                run.reference());
    }

    private int resumeLayer(List<Edge> group) {
        return group.stream()
                .mapToInt(e -> EdgeSites.resumeLayer(e.reader(), config))
                .min()
                .orElseThrow();
    }

    @Override
    public void close() {
        scopes.forEach(NDManager::close);
        scopes.clear();
    }
}
