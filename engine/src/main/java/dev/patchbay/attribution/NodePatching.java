package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.PatchBatch;
import dev.patchbay.passes.PatchRow;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Exact activation patching of groups of nodes, each group patched jointly in one run resumed at its lowest
 * layer. A session runs every pair's clean and noise passes once, then patches any number of groups, a chunk
 * at a time so that results stream as each chunk completes. Verification is the case of one-node groups in a
 * method's rank order; the baselines patch larger groups.
 */
public final class NodePatching implements GroupPatching<Node>, AutoCloseable {
    private final PassRunner runner;
    private final List<PromptPair> pairs;
    private final ModelConfig config;
    private final int chunk;
    private final List<NDManager> scopes = new ArrayList<>();
    private final List<ActivationPatching.CleanAndNoise> runs = new ArrayList<>();
    /** Per pair, each site's noise activation [T, ...]: one array shared by all of a group's patches there. */
    private final List<Map<String, NDArray>> sources = new ArrayList<>();

    private final ActivationPatching.Tally tally = new ActivationPatching.Tally();
    private final long start = System.nanoTime();
    private AttributionListener progress = AttributionListener.NONE;
    private double plannedPasses;

    /**
     * Reports the forward passes run so far, out of {@code plannedPasses}, after every chunk: a baseline's
     * patching is its whole run, and a caller that sees progress can cancel it part way.
     */
    public NodePatching reportingTo(AttributionListener listener, double plannedPasses) {
        this.progress = listener;
        this.plannedPasses = plannedPasses;
        return this;
    }

    /**
     * Runs each pair's clean and noise passes, keeping what patching any group of {@code nodes} needs.
     *
     * @param chunk groups per chunk (patched runs per pair between two streamed results)
     */
    public NodePatching(PassRunner runner, List<PromptPair> pairs, Collection<Node> nodes, int chunk) {
        if (chunk < 1) {
            throw new IllegalArgumentException("chunk must be positive");
        }
        this.runner = runner;
        this.pairs = pairs;
        this.config = runner.model().config();
        this.chunk = chunk;
        PairBatch.validate(pairs, NodeSet.heads(), config);
        Set<String> residSites = new LinkedHashSet<>();
        Set<String> nodeSites = new LinkedHashSet<>();
        for (Node n : nodes) {
            checkNode(n, config, pairs);
            // A group resumes at its lowest layer, which may be any of its nodes' layers.
            residSites.add(HookSites.residPre(n.layer()));
            nodeSites.add(n.kind().site(n.layer()));
        }
        try {
            for (PromptPair pair : pairs) {
                NDManager scope = runner.model().compute().newScope();
                scopes.add(scope);
                ActivationPatching.CleanAndNoise run =
                        ActivationPatching.CleanAndNoise.of(runner, scope, pair, residSites, nodeSites, tally);
                runs.add(run);
                Map<String, NDArray> bySite = new HashMap<>();
                nodeSites.forEach(
                        site -> bySite.put(site, run.noise().sites().get(site).get("0")));
                sources.add(bySite);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Patches each group (whose nodes were among the session's) jointly; results go to {@code consumer} in order. */
    @Override
    public void patch(List<List<Node>> groups, Consumer consumer) {
        for (int g = 0; g < groups.size(); g++) {
            if (groups.get(g).isEmpty()) {
                throw new IllegalArgumentException("groups[" + g + "]: no nodes");
            }
        }
        for (int from = 0; from < groups.size(); from += chunk) {
            int to = Math.min(groups.size(), from + chunk);
            double[][] perPair = new double[to - from][pairs.size()];
            for (int p = 0; p < pairs.size(); p++) {
                ActivationPatching.CleanAndNoise run = runs.get(p);
                // Rows of one layer run together; keep each group's index to route the result.
                Map<Integer, List<Integer>> byLayer = new LinkedHashMap<>();
                for (int g = from; g < to; g++) {
                    byLayer.computeIfAbsent(lowestLayer(groups.get(g)), l -> new ArrayList<>())
                            .add(g);
                }
                for (var entry : byLayer.entrySet()) {
                    int layer = entry.getKey();
                    List<PatchRow> rows = new ArrayList<>();
                    for (int g : entry.getValue()) {
                        rows.add(row(pairs.get(p), run, sources.get(p), groups.get(g), layer));
                    }
                    double[] metrics = runner.run(new PatchBatch(rows));
                    for (int i = 0; i < rows.size(); i++) {
                        perPair[entry.getValue().get(i) - from][p] = metrics[i] - run.cleanMetric();
                    }
                    tally.rows(rows.size(), (double) (config.nLayers() - layer) / config.nLayers());
                }
            }
            GroupPatching.report(consumer, from, perPair);
            progress.onProgress((long) tally.passes, (long) Math.ceil(Math.max(plannedPasses, tally.passes)));
        }
    }

    /** What the session spent so far: its clean and noise runs, and one run per group and pair. */
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

    private PatchRow row(
            PromptPair pair,
            ActivationPatching.CleanAndNoise run,
            Map<String, NDArray> sources,
            List<Node> group,
            int layer) {
        List<PatchRow.SitePatch> patches = new ArrayList<>();
        for (Node n : group) {
            String site = n.kind().site(n.layer());
            NDArray source = sources.get(site);
            if (source == null) {
                throw new IllegalArgumentException("node " + n.name() + " was not among the session's nodes");
            }
            patches.add(new PatchRow.SitePatch(
                    site,
                    Patch.of(
                            0,
                            source,
                            n.position() < 0 ? null : new int[] {n.position()},
                            n.kind().hasUnits() ? new int[] {n.unit()} : null)));
        }
        return new PatchRow(
                pair.clean(),
                layer,
                run.clean().sites().get(HookSites.residPre(layer)),
                patches,
                pair.metric(),
                pair.metricPosition(),
                run.reference());
    }

    private static int lowestLayer(List<Node> group) {
        return group.stream().mapToInt(Node::layer).min().orElseThrow();
    }

    /**
     * Refuses a node the model or the prompts do not have (its layer, unit or position), with a message naming
     * it; the server calls this while parsing a request, before it accepts it.
     */
    public static void checkNode(Node n, ModelConfig config, List<PromptPair> pairs) {
        String where = "node " + n.name() + ": ";
        if (n.layer() < 0 || n.layer() >= config.nLayers()) {
            throw new IllegalArgumentException(where + "layer " + n.layer() + " outside [0, " + config.nLayers() + ")");
        }
        if (n.kind().hasUnits() && (n.unit() < 0 || n.unit() >= n.kind().units(config))) {
            throw new IllegalArgumentException(
                    where + "unit " + n.unit() + " outside [0, " + n.kind().units(config) + ")");
        }
        if (!n.kind().hasUnits() && n.unit() != 0) {
            throw new IllegalArgumentException(where + "unit " + n.unit() + " given, but " + n.kind()
                    + " is a whole-layer node with no heads or neurons (leave unit 0)");
        }
        for (PromptPair p : pairs) {
            if (n.position() >= p.length() || n.position() < -1) {
                throw new IllegalArgumentException(
                        where + "position " + n.position() + " outside the prompt of " + p.length() + " tokens");
            }
        }
    }

    @Override
    public void close() {
        scopes.forEach(NDManager::close);
        scopes.clear();
    }
}
