package dev.patchbay.attribution.baselines;

import dev.patchbay.attribution.GroupPatching;
import dev.patchbay.attribution.NodePatching;
import dev.patchbay.nodes.Node;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Subsampling (Algorithm 1): {@code samples} runs, each patching a random subset of the nodes jointly (each node
 * in it with probability {@code p}); a node's estimate is mean(run effect | in the subset) - mean(run effect |
 * not). Cost: one forward pass per sample.
 */
public final class Subsampling extends PatchingBaseline {
    private final int samples;
    private final double p;
    private final long seed;

    public Subsampling(int samples, double p, long seed, int chunk) {
        super(chunk);
        if (samples < 2 || !(p > 0 && p < 1)) { // written so that NaN fails too
            throw new IllegalArgumentException("subsampling needs at least 2 samples and 0 < p < 1");
        }
        this.samples = samples;
        this.p = p;
        this.seed = seed;
    }

    @Override
    public String id() {
        return "subsampling";
    }

    @Override
    double plannedGroups(long nodes) {
        return samples;
    }

    @Override
    Map<Node, Double> score(List<Node> nodes, NodePatching patching) {
        SubsampleStats stats = run(nodes, patching, samples, p, new Random(seed));
        Map<Node, Double> scores = new HashMap<>();
        for (int n = 0; n < nodes.size(); n++) {
            double d = stats.difference(n);
            scores.put(nodes.get(n), Double.isNaN(d) ? 0 : d);
        }
        return scores;
    }

    /**
     * Refuses an inclusion probability under which a random subset of {@code nodes} would almost always be empty:
     * the draws of a sample are repeated until one is not, so a tiny probability would loop for ever (with
     * 1e-12, one draw in a trillion per node). At most a thousand draws per sample are expected.
     */
    public static void checkInclusion(long nodes, double p) {
        if (!(p > 0 && p < 1)) {
            throw new IllegalArgumentException("inclusion probability must be in (0, 1), got " + p);
        }
        double nonEmpty = -Math.expm1(nodes * Math.log1p(-p));
        if (!(nonEmpty >= MIN_NON_EMPTY)) {
            throw new IllegalArgumentException("inclusion probability " + p + " is too small for " + nodes
                    + " nodes: a random subset would be empty " + (1 - nonEmpty) + " of the time; use at least "
                    + minimumInclusion(nodes));
        }
    }

    /** The smallest inclusion probability {@link #checkInclusion} accepts for {@code nodes}. */
    public static double minimumInclusion(long nodes) {
        return -Math.expm1(Math.log1p(-MIN_NON_EMPTY) / nodes);
    }

    private static final double MIN_NON_EMPTY = 1e-3;

    /** Patches {@code samples} random subsets of {@code nodes} and gathers each node's statistics. */
    public static <T> SubsampleStats run(
            List<T> nodes, GroupPatching<T> patching, int samples, double p, Random random) {
        checkInclusion(nodes.size(), p);
        List<boolean[]> subsets = new ArrayList<>();
        List<List<T>> groups = new ArrayList<>();
        // Each draw is non-empty with probability at least 1e-3 (checked above); the cap makes the loop's end
        // certain rather than almost certain.
        long draws = 0;
        long maxDraws = (long) samples * 1_000_000L;
        while (subsets.size() < samples) {
            if (++draws > maxDraws) {
                throw new IllegalStateException("no non-empty subset in " + maxDraws + " draws");
            }
            boolean[] in = new boolean[nodes.size()];
            List<T> group = new ArrayList<>();
            for (int n = 0; n < in.length; n++) {
                if (random.nextDouble() < p) {
                    in[n] = true;
                    group.add(nodes.get(n));
                }
            }
            if (!group.isEmpty()) {
                subsets.add(in);
                groups.add(group);
            }
        }
        double[] effects = patching.patch(groups);
        SubsampleStats stats = new SubsampleStats(nodes.size());
        for (int i = 0; i < effects.length; i++) {
            stats.add(subsets.get(i), effects[i]);
        }
        return stats;
    }
}
