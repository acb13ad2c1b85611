package dev.patchbay.research.replication;

import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.baselines.Blocks;
import dev.patchbay.attribution.baselines.Hierarchical;
import dev.patchbay.attribution.baselines.Iterative;
import dev.patchbay.attribution.baselines.Subsampling;
import dev.patchbay.attribution.catalog.Methods;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongFunction;

/** A method with its hyperparameters: one line of the comparison. */
interface Contender {
    /** The method's name in the paper, shared by its hyperparameter settings. */
    String family();

    /** The family with its hyperparameters. */
    String label();

    /** Whether its order depends on a seed (runs are then repeated and their curves averaged). */
    boolean randomized();

    /**
     * Runs the method on {@code pairs} and returns cost(k) per pair for the true top nodes {@code top}: the
     * forward passes spent, divided by the number of pairs, when all of the true top k are verified.
     */
    double[] cost(
            HookedTransformer model,
            List<PromptPair> pairs,
            NodeSet nodes,
            List<AttributionResult.Scored> top,
            long seed);

    /**
     * The methods of the paper's comparison (docs/spec/atp-spec.md section 6), the baselines over a small grid of
     * settings.
     */
    static List<Contender> all(int batchRows) {
        List<Contender> out = new ArrayList<>();
        out.add(ranked("AtP", "AtP", false, seed -> Methods.byId("atp", batchRows, 8)));
        out.add(ranked("AtP+QKfix", "AtP+QKfix", false, seed -> Methods.byId("atp-qk", batchRows, 8)));
        out.add(ranked("AtP*", "AtP*", false, seed -> Methods.byId("atp-star", batchRows, 8)));
        out.add(ranked("Iterative", "Iterative", true, Iterative::new));
        for (double p : new double[] {0.01, 0.1}) {
            for (int samples : new int[] {256, 1024}) {
                out.add(ranked(
                        "Subsampling",
                        "Subsampling (p=" + p + ", S=" + samples + ")",
                        true,
                        seed -> new Subsampling(samples, p, seed, batchRows)));
            }
        }
        for (int size : new int[] {4, 16, 64}) {
            out.add(ranked("Blocks", "Blocks (B=" + size + ")", false, seed -> new Blocks(size, batchRows)));
        }
        for (int branching : new int[] {2, 4, 16}) {
            out.add(new HierarchicalSearch(branching, batchRows));
        }
        return out;
    }

    /** A method that scores every node and is then verified in its order, after its own cost. */
    static Contender ranked(String family, String label, boolean randomized, LongFunction<AttributionMethod> make) {
        return new Ranked(family, label, randomized, make);
    }

    record Ranked(String family, String label, boolean randomized, LongFunction<AttributionMethod> make)
            implements Contender {
        @Override
        public double[] cost(
                HookedTransformer model,
                List<PromptPair> pairs,
                NodeSet nodes,
                List<AttributionResult.Scored> top,
                long seed) {
            AttributionResult r = make.apply(seed).run(model, pairs, nodes);
            return VerifiedRecall.cost(
                    top, VerifiedRecall.places(r.ranked()), r.cost().forwardPasses() / pairs.size());
        }
    }

    /**
     * Hierarchical search verifies as it goes: a node's own patch is its exact effect, so a node's cost is the
     * clean and noise passes plus the group patches spent when the search reached it. The search stops once
     * the true top nodes are all reached; cost(k) does not depend on what it would do after.
     */
    record HierarchicalSearch(int branching, int batchRows) implements Contender {
        @Override
        public String family() {
            return "Hierarchical";
        }

        @Override
        public String label() {
            return "Hierarchical (b=" + branching + ")";
        }

        @Override
        public boolean randomized() {
            return false;
        }

        @Override
        public double[] cost(
                HookedTransformer model,
                List<PromptPair> pairs,
                NodeSet nodes,
                List<AttributionResult.Scored> top,
                long seed) {
            Set<Node> missing = new HashSet<>();
            top.forEach(s -> missing.add(s.node()));
            Map<Node, Long> reached = new HashMap<>();
            new Hierarchical(branching, 0, batchRows, (node, patches) -> {
                        reached.put(node, patches);
                        missing.remove(node);
                        return !missing.isEmpty();
                    })
                    .run(model, pairs, nodes);
            return VerifiedRecall.cost(top, reached, 2);
        }
    }
}
