package dev.patchbay.research.replication;

import dev.patchbay.attribution.ActivationPatching;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.NodeSet;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The paper's central comparison on one model: for each prompt setting and node set, the ground truth by
 * exhaustive activation patching, then every method's cost of verified recall against it.
 *
 * @param maxK the largest k of cost(k) (the paper plots up to about 1000)
 * @param seeds runs of each randomized method, whose curves are averaged geometrically
 * @param relativeFloor effects at or below this fraction of the largest count as zero (see {@link
 *     VerifiedRecall#trueTop})
 */
public record Replication(int maxK, int seeds, int batchRows, double relativeFloor) {
    public Replication {
        if (maxK < 1 || seeds < 1 || batchRows < 1) {
            throw new IllegalArgumentException(
                    "max k, seeds and batch rows must be positive: " + maxK + ", " + seeds + ", " + batchRows);
        }
    }

    /** One method's curve in one setting. */
    public record Curve(String family, String label, double[] cost, double relativeCost, double seconds) {}

    /** One of the true top nodes or edges, by name, with its exact effect. */
    public record Truth(String name, double effect) {}

    /** A setting's ground truth and every method's curve. */
    public record Outcome(
            String setting,
            String description,
            String nodeSet,
            int pairs,
            int nodes,
            double cleanMetric,
            double noiseMetric,
            List<Truth> top,
            double groundTruthSeconds,
            List<Curve> curves) {
        /** What the outcome ranks: "edges" for an edge set, else "nodes". */
        public String unit() {
            return nodeSet.startsWith("edges") ? "edges" : "nodes";
        }

        /** Each family's curve with the lowest relative cost (the baselines' best hyperparameters). */
        public List<Curve> bestOfEachFamily() {
            List<Curve> best = new ArrayList<>();
            for (Curve c : curves) {
                int i = indexOf(best, c.family());
                if (i < 0) {
                    best.add(c);
                } else if (c.relativeCost() < best.get(i).relativeCost()) {
                    best.set(i, c);
                }
            }
            return best;
        }

        private static int indexOf(List<Curve> curves, String family) {
            for (int i = 0; i < curves.size(); i++) {
                if (curves.get(i).family().equals(family)) {
                    return i;
                }
            }
            return -1;
        }
    }

    public Outcome run(
            HookedTransformer model, PromptSetting setting, String nodeSetName, NodeSet nodes, Consumer<String> log) {
        AttributionResult truth = new ActivationPatching(batchRows).run(model, setting.pairs(), nodes);
        List<AttributionResult.Scored> top = VerifiedRecall.trueTop(truth, maxK, relativeFloor);
        int count = truth.blocks().stream().mapToInt(EffectBlock::size).sum();
        log.accept(String.format(
                "%s / %s: %d nodes, %d pairs; ground truth %.1f s; top %d nonzero effects, largest %s %.4f",
                setting.name(),
                nodeSetName,
                count,
                setting.pairs().size(),
                truth.cost().wallSeconds(),
                top.size(),
                top.get(0).node().name(),
                top.get(0).estimate()));
        List<Curve> curves = new ArrayList<>();
        for (Contender c : Contender.all(batchRows)) {
            long start = System.nanoTime();
            List<double[]> runs = new ArrayList<>();
            for (long seed = 0; seed < (c.randomized() ? seeds : 1); seed++) {
                runs.add(c.cost(model, setting.pairs(), nodes, top, seed));
            }
            double[] cost = VerifiedRecall.geometricMean(runs);
            Curve curve = new Curve(
                    c.family(), c.label(), cost, VerifiedRecall.relativeCost(cost), (System.nanoTime() - start) / 1e9);
            curves.add(curve);
            log.accept(String.format(
                    "  %-32s relative cost %9.2f  cost(1) %8.0f  cost(%d) %9.0f  (%.1f s)",
                    c.label(), curve.relativeCost(), cost[0], cost.length, cost[cost.length - 1], curve.seconds()));
        }
        return new Outcome(
                setting.name(),
                setting.description(),
                nodeSetName,
                setting.pairs().size(),
                count,
                truth.cleanMetric(),
                truth.noiseMetric(),
                top.stream().map(t -> new Truth(t.node().name(), t.estimate())).toList(),
                truth.cost().wallSeconds(),
                curves);
    }
}
