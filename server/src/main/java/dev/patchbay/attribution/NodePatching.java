package dev.patchbay.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Patch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Exact activation patching of given groups of nodes, each group patched jointly in one run resumed at its
 * lowest layer, processed in the given order a chunk at a time so that results stream as each chunk
 * completes. Verification is the case of one-node groups in a method's rank order.
 */
public final class NodePatching {
    /** Receives each group's effect (the mean over pairs) and its per-pair effects, in order. */
    public interface Consumer {
        void accept(int index, double effect, double[] perPair);
    }

    private final int chunk;

    /** @param chunk groups per chunk (patched runs per pair between two streamed results) */
    public NodePatching(int chunk) {
        if (chunk < 1) {
            throw new IllegalArgumentException("chunk must be positive");
        }
        this.chunk = chunk;
    }

    /** Patches each group; returns the cost (clean and noise runs of every pair, plus one run per group and pair). */
    public Cost run(PassRunner runner, List<PromptPair> pairs, List<List<Node>> groups, Consumer consumer) {
        ModelConfig config = runner.model().config();
        PairBatch.validate(pairs, NodeSet.heads(), config);
        for (int g = 0; g < groups.size(); g++) {
            check(groups.get(g), g, config, pairs);
        }
        long start = System.nanoTime();
        ActivationPatching.Tally tally = new ActivationPatching.Tally();
        Set<String> residSites = new LinkedHashSet<>();
        Set<String> nodeSites = new LinkedHashSet<>();
        for (List<Node> group : groups) {
            residSites.add(HookSites.residPre(lowestLayer(group)));
            group.forEach(n -> nodeSites.add(n.kind().site(n.layer())));
        }
        List<NDManager> scopes = new ArrayList<>();
        try {
            List<ActivationPatching.CleanAndNoise> runs = new ArrayList<>();
            for (PromptPair pair : pairs) {
                NDManager scope = NDManager.newBaseManager("PyTorch");
                scopes.add(scope);
                runs.add(ActivationPatching.CleanAndNoise.of(runner, scope, pair, residSites, nodeSites, tally));
            }
            for (int from = 0; from < groups.size(); from += chunk) {
                int to = Math.min(groups.size(), from + chunk);
                double[][] perPair = new double[to - from][pairs.size()];
                for (int p = 0; p < pairs.size(); p++) {
                    PromptPair pair = pairs.get(p);
                    ActivationPatching.CleanAndNoise run = runs.get(p);
                    // Rows of one layer run together; keep each group's index to route the result.
                    Map<Integer, List<Integer>> byLayer = new LinkedHashMap<>();
                    for (int g = from; g < to; g++) {
                        byLayer.computeIfAbsent(lowestLayer(groups.get(g)), l -> new ArrayList<>()).add(g);
                    }
                    for (var entry : byLayer.entrySet()) {
                        int layer = entry.getKey();
                        List<PatchRow> rows = new ArrayList<>();
                        for (int g : entry.getValue()) {
                            rows.add(row(pair, run, groups.get(g), layer));
                        }
                        PassRunner.RowResults results = runner.patchRows(rows);
                        for (int i = 0; i < rows.size(); i++) {
                            perPair[entry.getValue().get(i) - from][p] = results.metrics()[i] - run.cleanMetric();
                        }
                        tally.rows(rows.size(), (double) (config.nLayers() - layer) / config.nLayers(), results.shared());
                    }
                }
                for (int g = from; g < to; g++) {
                    double[] effects = perPair[g - from];
                    double mean = 0;
                    for (double e : effects) {
                        mean += e / effects.length;
                    }
                    consumer.accept(g, mean, effects);
                }
            }
        } finally {
            scopes.forEach(NDManager::close);
        }
        return new Cost(tally.passes, tally.compute, (System.nanoTime() - start) / 1e9);
    }

    private static PatchRow row(PromptPair pair, ActivationPatching.CleanAndNoise run, List<Node> group, int layer) {
        List<PatchRow.SitePatch> patches = new ArrayList<>();
        for (Node n : group) {
            String site = n.kind().site(n.layer());
            NDArray source = run.noise().sites().get(site).get("0");
            patches.add(new PatchRow.SitePatch(site, Patch.of(0, source,
                    n.position() < 0 ? null : new int[] {n.position()}, n.kind().hasUnits() ? new int[] {n.unit()} : null)));
        }
        return new PatchRow(pair.clean(), layer, run.clean().sites().get(HookSites.residPre(layer)), patches,
                pair.metric(), pair.metricPosition(), run.reference());
    }

    private static int lowestLayer(List<Node> group) {
        return group.stream().mapToInt(Node::layer).min().orElseThrow();
    }

    private static void check(List<Node> group, int index, ModelConfig config, List<PromptPair> pairs) {
        if (group.isEmpty()) {
            throw new IllegalArgumentException("groups[" + index + "]: no nodes");
        }
        for (Node n : group) {
            String where = "groups[" + index + "] node " + n.name() + ": ";
            if (n.layer() < 0 || n.layer() >= config.nLayers()) {
                throw new IllegalArgumentException(where + "layer " + n.layer() + " outside [0, " + config.nLayers() + ")");
            }
            if (n.kind().hasUnits() && (n.unit() < 0 || n.unit() >= n.kind().units(config))) {
                throw new IllegalArgumentException(where + "unit " + n.unit() + " outside [0, " + n.kind().units(config) + ")");
            }
            for (PromptPair p : pairs) {
                if (n.position() >= p.length() || n.position() < -1) {
                    throw new IllegalArgumentException(where + "position " + n.position() + " outside the prompt of "
                            + p.length() + " tokens");
                }
            }
        }
    }
}
