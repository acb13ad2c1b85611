package dev.patchbay.attribution.baselines;

import dev.patchbay.attribution.GroupPatching;
import dev.patchbay.attribution.NodePatching;
import dev.patchbay.nodes.Node;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Hierarchical (Algorithm 3): a tree over the nodes in canonical order, each group split into
 * {@code branching} contiguous children. The root's children are patched; then the group with the largest
 * |effect| is repeatedly split and its children patched, until single nodes are reached or
 * {@code maxPatches} group patches are spent. A node scores the effect of the smallest group of it that was
 * patched (its own, if it was reached). Cost: the group patches.
 *
 * <p>A node's own patch is its exact effect, so reaching it verifies it: the cost of verifying a node is the
 * number of group patches spent when it was reached, which a {@link LeafVisitor} is told.
 */
public final class Hierarchical extends PatchingBaseline {
    /** Told of each node (or edge) reached, with the group patches spent so far; returns whether to go on. */
    public interface LeafVisitor<T> {
        boolean reached(T item, long groupPatches);
    }

    private final int branching;
    private final long maxPatches;
    private final LeafVisitor<Node> visitor;

    /** @param maxPatches the patch budget; 0 for no limit (every group is refined down to its nodes) */
    public Hierarchical(int branching, long maxPatches, int chunk) {
        this(branching, maxPatches, chunk, (node, patches) -> true);
    }

    public Hierarchical(int branching, long maxPatches, int chunk, LeafVisitor<Node> visitor) {
        super(chunk);
        if (branching < 2 || maxPatches < 0) {
            throw new IllegalArgumentException("hierarchical needs a branching factor of at least 2");
        }
        this.branching = branching;
        this.maxPatches = maxPatches;
        this.visitor = visitor;
    }

    @Override
    public String id() {
        return "hierarchical";
    }

    @Override
    double plannedGroups(long nodes) {
        // A full tree has about nodes * branching / (branching - 1) groups.
        double full = Math.ceil(nodes * (double) branching / (branching - 1));
        return maxPatches > 0 ? Math.min((double) maxPatches, full) : full;
    }

    /** Nodes [from, to) of the canonical order, with the effect of patching them jointly. */
    private record Group(int from, int to, double effect) {}

    @Override
    Map<Node, Double> score(List<Node> nodes, NodePatching patching) {
        return search(nodes, patching, branching, maxPatches, visitor);
    }

    /**
     * The search over any patchable items (nodes or edges) in a given order: scores for the items, each the effect
     * of the smallest group of it that was patched.
     */
    public static <T> Map<T, Double> search(
            List<T> items, GroupPatching<T> patching, int branching, long maxPatches, LeafVisitor<T> visitor) {
        Map<T, Double> scores = new HashMap<>();
        PriorityQueue<Group> open =
                new PriorityQueue<>((a, b) -> Double.compare(Math.abs(b.effect), Math.abs(a.effect)));
        long spent = 0;
        List<Group> frontier = children(new Group(0, items.size(), Double.NaN), branching);
        boolean goOn = true;
        while (goOn && !frontier.isEmpty() && (maxPatches == 0 || spent < maxPatches)) {
            if (maxPatches > 0 && spent + frontier.size() > maxPatches) {
                frontier = frontier.subList(0, (int) (maxPatches - spent));
            }
            double[] effects = patching.patch(
                    frontier.stream().map(g -> items.subList(g.from, g.to)).toList());
            spent += frontier.size();
            for (int i = 0; i < frontier.size(); i++) {
                Group g = new Group(frontier.get(i).from, frontier.get(i).to, effects[i]);
                for (int n = g.from; n < g.to; n++) {
                    scores.put(items.get(n), g.effect);
                }
                if (g.to - g.from > 1) {
                    open.add(g);
                } else {
                    goOn &= visitor.reached(items.get(g.from), spent);
                }
            }
            frontier = open.isEmpty() ? List.of() : children(open.poll(), branching);
        }
        return scores;
    }

    private static List<Group> children(Group g, int branching) {
        List<Group> out = new ArrayList<>();
        int size = g.to - g.from;
        int step = (int) Math.ceil((double) size / branching);
        for (int from = g.from; from < g.to; from += step) {
            out.add(new Group(from, Math.min(g.to, from + step), Double.NaN));
        }
        return out;
    }
}
