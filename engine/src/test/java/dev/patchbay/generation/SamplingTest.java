package dev.patchbay.generation;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** A token's log-probability without the vocabulary-sized array is the same number, bit for bit. */
class SamplingTest {
    @Test
    void oneTokensLogProbabilityIsTheLogSoftmaxsEntry() {
        Random random = new Random(3);
        for (int trial = 0; trial < 50; trial++) {
            double[] logits = random.doubles(1 + random.nextInt(2000), -30, 30).toArray();
            double[] all = Sampling.logSoftmax(logits);
            for (int id = 0; id < logits.length; id += 1 + logits.length / 7) {
                assertEquals(
                        Double.doubleToRawLongBits(all[id]),
                        Double.doubleToRawLongBits(Sampling.logProb(logits, id)),
                        "trial " + trial + ", token " + id);
            }
        }
        double[] withNaN = {1, Double.NaN, 3};
        assertEquals(Double.NaN, Sampling.logProb(withNaN, 0));
        assertEquals(Double.NaN, Sampling.logSoftmax(withNaN)[0]);
    }
}
