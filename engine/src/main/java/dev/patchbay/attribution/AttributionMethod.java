package dev.patchbay.attribution;

import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.List;

/** A way to estimate every node's effect on the metric for a set of prompt pairs. */
public interface AttributionMethod {
    /** The method's short name: ap, atp, atp-qk, atp-star. */
    String id();

    /**
     * Scores every node of {@code nodes}, doing all compute through {@code runner}. Orchestration runs on the
     * calling thread; the runner decides where the passes run.
     */
    AttributionResult run(PassRunner runner, List<PromptPair> pairs, NodeSet nodes, AttributionListener listener);

    /** Runs in-process on the calling thread. */
    default AttributionResult run(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes) {
        return run(PassRunner.direct(model), pairs, nodes, AttributionListener.NONE);
    }

    /**
     * Whether the estimates for {@code pairs} pairs are magnitudes (never negative, with no sign to read) rather than
     * signed changes of the metric: AtP*'s GradDrop, and the gradient methods' mean |estimate| over a distribution
     * (eq. 5). A figure draws the two differently.
     */
    default boolean magnitudes(int pairs) {
        return false;
    }

    /** The planned cost in the paper's forward-pass unit, for a request's Accepted event. */
    double plannedForwardPasses(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes);
}
