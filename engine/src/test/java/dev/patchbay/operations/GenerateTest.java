package dev.patchbay.operations;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** A token's alternatives: the k most likely by a selection, checked against a full sort of the vocabulary. */
class GenerateTest {
    @Test
    void mostLikelyIsTheTopOfAStableSortLargestFirst() {
        Random random = new Random(7);
        for (int trial = 0; trial < 200; trial++) {
            int vocabulary = 1 + random.nextInt(300);
            double[] logProbs = new double[vocabulary];
            for (int v = 0; v < vocabulary; v++) {
                // Few distinct values, so that ties are common: equal ones must come lowest id first.
                logProbs[v] = -random.nextInt(12);
            }
            int k = random.nextInt(Generate.MAX_ALTERNATIVES + 1);
            int[] sorted = IntStream.range(0, vocabulary)
                    .boxed()
                    .sorted(Comparator.comparingDouble((Integer v) -> -logProbs[v]))
                    .limit(k)
                    .mapToInt(Integer::intValue)
                    .toArray();
            assertArrayEquals(sorted, Generate.mostLikely(logProbs, k), "trial " + trial);
        }
    }
}
