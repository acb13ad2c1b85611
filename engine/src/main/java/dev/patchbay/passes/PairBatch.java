package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.List;

/** Some prompt pairs run together: their clean prompts as one batch, their noise prompts as another. */
public final class PairBatch {
    final List<PromptPair> pairs;
    final TokenBatch clean;
    final TokenBatch noise;
    final int[] positions;

    private PairBatch(List<PromptPair> pairs) {
        this.pairs = pairs;
        this.clean = TokenBatch.of(pairs.stream().map(PromptPair::clean).toArray(int[][]::new));
        this.noise = TokenBatch.of(pairs.stream().map(PromptPair::noise).toArray(int[][]::new));
        this.positions = pairs.stream().mapToInt(PromptPair::metricPosition).toArray();
    }

    static PairBatch of(List<PromptPair> pairs) {
        return new PairBatch(pairs);
    }

    /** Consecutive slices of at most {@code maxRows} pairs. */
    public static List<List<PromptPair>> split(List<PromptPair> pairs, int maxRows) {
        List<List<PromptPair>> batches = new ArrayList<>();
        for (int i = 0; i < pairs.size(); i += maxRows) {
            batches.add(pairs.subList(i, Math.min(pairs.size(), i + maxRows)));
        }
        return batches;
    }

    int size() {
        return pairs.size();
    }

    /**
     * The metric of each row, compared with {@code reference} log-probs for KL (null: with itself), for logits
     * [B, 1, V] of a forward that unembedded only each row's metric position ({@code Hooks.Builder.unembedOnly}).
     */
    MetricBatch unembeddedMetric(NDManager scope, NDArray reference) {
        return new MetricBatch(
                scope, pairs.stream().map(PromptPair::metric).toList(), new int[pairs.size()], reference);
    }

    /** Checks a request's pairs against the model and the node set before any work is done. */
    public static void validate(List<PromptPair> pairs, NodeSet nodes, ModelConfig config) {
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("pairs: at least one prompt pair is needed");
        }
        Metric.Kind kind = pairs.get(0).metric().kind();
        for (int i = 0; i < pairs.size(); i++) {
            PromptPair p = pairs.get(i);
            if (p.metric().kind() != kind) {
                throw new IllegalArgumentException("pairs[" + i + "]: all pairs must use one metric kind");
            }
            p.metric().checkTokens(config.vocabSize());
            if (nodes.perPosition() && p.length() != pairs.get(0).length()) {
                throw new IllegalArgumentException("pairs[" + i + "]: per-position nodes need every pair to have the"
                        + " same length (" + pairs.get(0).length() + " tokens), this one has " + p.length()
                        + "; use nodes over all positions for pairs of different lengths");
            }
        }
        nodes.layers(config);
        nodes.positions(pairs.get(0).length());
    }
}
