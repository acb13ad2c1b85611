package dev.patchbay.generation;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;

/** Choosing the next token from a step's logits: greedy, or sampled with temperature, top-k and top-p. */
final class Sampling {
    private Sampling() {}

    /** Greedy (the first of equal maxima, as torch's argmax) where the temperature is 0, else a sample. */
    static int next(double[] logits, Generation.Settings s, Random random) {
        if (s.temperature() == 0) {
            int best = 0;
            for (int v = 1; v < logits.length; v++) {
                if (logits[v] > logits[best]) {
                    best = v;
                }
            }
            return best;
        }
        double[] scaled = new double[logits.length];
        for (int v = 0; v < logits.length; v++) {
            scaled[v] = logits[v] / s.temperature();
        }
        double[] p = softmax(scaled);
        Integer[] order = IntStream.range(0, p.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer v) -> -p[v]).thenComparingInt(v -> v));
        int keep = s.topK() > 0 ? Math.min(s.topK(), p.length) : p.length;
        if (s.topP() > 0 && s.topP() < 1) {
            // The smallest prefix whose probability reaches top_p (transformers' TopPLogitsWarper keeps it too).
            double sum = 0;
            for (int i = 0; i < keep; i++) {
                sum += p[order[i]];
                if (sum >= s.topP()) {
                    keep = i + 1;
                    break;
                }
            }
        }
        double total = 0;
        for (int i = 0; i < keep; i++) {
            total += p[order[i]];
        }
        double u = random.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            u -= p[order[i]];
            if (u < 0) {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    static double[] logSoftmax(double[] logits) {
        double log = logSumExp(logits);
        double[] out = new double[logits.length];
        for (int v = 0; v < logits.length; v++) {
            out[v] = logits[v] - log;
        }
        return out;
    }

    /**
     * One token's log-probability, the same number as {@code logSoftmax(logits)[id]} without the vocabulary-sized
     * array: every step of every prompt asks for it, on the request's critical path (0.5 ms a row of GPT-2's
     * vocabulary for the whole array on this project's CPU).
     */
    static double logProb(double[] logits, int id) {
        return logits[id] - logSumExp(logits);
    }

    /** log(sum(exp(logits))), shifted by the largest logit (Math.max, so a NaN propagates as a stream's max did). */
    private static double logSumExp(double[] logits) {
        double max = logits.length == 0 ? 0 : Double.NEGATIVE_INFINITY;
        for (double l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (double l : logits) {
            sum += Math.exp(l - max);
        }
        return max + Math.log(sum);
    }

    private static double[] softmax(double[] logits) {
        double[] out = logSoftmax(logits);
        for (int v = 0; v < out.length; v++) {
            out[v] = Math.exp(out[v]);
        }
        return out;
    }
}
