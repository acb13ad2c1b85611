package dev.patchbay.attribution;

import dev.patchbay.nodes.Cost;
import java.util.List;

/**
 * Exact patching of groups of items (nodes or edges), each group patched jointly in one run: what verification,
 * the baselines and the false-negative diagnostic are built on.
 */
public interface GroupPatching<T> {
    /** Receives each group's effect (the mean over pairs) and its per-pair effects, in order. */
    interface Consumer {
        void accept(int index, double effect, double[] perPair);
    }

    /**
     * Hands {@code consumer} each group of a chunk with its mean effect over the pairs: {@code perPair[g - from]} holds
     * group g's effect on each pair.
     */
    static void report(Consumer consumer, int from, double[][] perPair) {
        for (int g = 0; g < perPair.length; g++) {
            double[] effects = perPair[g];
            double mean = 0;
            for (double e : effects) {
                mean += e / effects.length;
            }
            consumer.accept(from + g, mean, effects);
        }
    }

    /** Patches each group jointly; results go to {@code consumer} in order, a chunk at a time. */
    void patch(List<List<T>> groups, Consumer consumer);

    /** The effects (means over pairs) of patching each group, in order. */
    default double[] patch(List<List<T>> groups) {
        double[] effects = new double[groups.size()];
        patch(groups, (i, effect, perPair) -> effects[i] = effect);
        return effects;
    }

    /** What the session spent so far. */
    Cost cost();
}
