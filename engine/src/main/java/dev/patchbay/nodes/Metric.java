package dev.patchbay.nodes;

import java.util.Arrays;
import java.util.function.IntFunction;
import java.util.stream.Collectors;

/**
 * The scalar behaviour metric, read on the clean run at one position. Sets of answer tokens are allowed: a
 * logit difference takes the mean over each set, the probabilities take the total over the set.
 *
 * @param answers tokens of the behaviour (the correct answer)
 * @param wrongs tokens the behaviour should rank below the answers (logit difference only)
 */
public record Metric(Kind kind, int[] answers, int[] wrongs) {
    public enum Kind {
        /** mean logit over answers minus mean logit over wrongs */
        LOGIT_DIFF("logit_diff"),
        /** log of the total probability of the answers */
        LOG_PROB("log_prob"),
        /** total probability of the answers */
        PROB("prob"),
        /**
         * KL(clean output || run's output): 0 on the clean run and at its minimum there, so its gradient is
         * zero and gradient-based estimates of it are zero; use it with activation patching.
         */
        KL_DIVERGENCE("kl_divergence");

        private final String id;

        Kind(String id) {
            this.id = id;
        }

        public String id() {
            return id;
        }

        public static Kind fromId(String id) {
            return Arrays.stream(values())
                    .filter(k -> k.id.equals(id))
                    .findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("metric: unknown kind '" + id + "'; known are "
                            + Arrays.stream(values()).map(Kind::id).toList()));
        }
    }

    public Metric {
        answers = answers == null ? new int[0] : answers.clone();
        wrongs = wrongs == null ? new int[0] : wrongs.clone();
        if (kind != Kind.KL_DIVERGENCE && answers.length == 0) {
            throw new IllegalArgumentException("metric: " + kind.id + " needs at least one answer token");
        }
        if (kind == Kind.LOGIT_DIFF && wrongs.length == 0) {
            throw new IllegalArgumentException("metric: logit_diff needs at least one wrong-answer token");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Metric m
                && m.kind == kind
                && Arrays.equals(m.answers, answers)
                && Arrays.equals(m.wrongs, wrongs);
    }

    @Override
    public int hashCode() {
        return (kind.hashCode() * 31 + Arrays.hashCode(answers)) * 31 + Arrays.hashCode(wrongs);
    }

    public static Metric logitDiff(int[] answers, int[] wrongs) {
        return new Metric(Kind.LOGIT_DIFF, answers, wrongs);
    }

    /** Checks every token against the vocabulary. */
    public void checkTokens(int vocabSize) {
        for (int[] set : new int[][] {answers, wrongs}) {
            for (int t : set) {
                if (t < 0 || t >= vocabSize) {
                    throw new IllegalArgumentException(
                            "metric: answer token " + t + " is outside the vocabulary [0, " + vocabSize + ")");
                }
            }
        }
    }

    /** A readable description, named in every result. */
    public String describe() {
        return describe(Integer::toString);
    }

    /** As {@link #describe()}, each token written by {@code spell} (e.g. as its text: " Mary"). */
    public String describe(IntFunction<String> spell) {
        return switch (kind) {
            case LOGIT_DIFF ->
                "logit_diff(answers=" + spelled(answers, spell) + ", wrongs=" + spelled(wrongs, spell) + ")";
            case LOG_PROB, PROB -> kind.id + "(answers=" + spelled(answers, spell) + ")";
            case KL_DIVERGENCE -> "kl_divergence(clean || patched)";
        };
    }

    private static String spelled(int[] tokens, IntFunction<String> spell) {
        return Arrays.stream(tokens).mapToObj(spell).collect(Collectors.joining(", ", "[", "]"));
    }
}
