package dev.patchbay.attribution;

import dev.patchbay.model.HookedTransformer;
import java.util.List;

/** A way to estimate every node's effect on the metric for a set of prompt pairs. */
public interface AttributionMethod {
    /** The method's short name: ap, atp, atp-qk, atp-star. */
    String id();

    /**
     * Scores every node of {@code nodes}. Runs on the calling thread; methods that differentiate must not run
     * concurrently with each other (PyTorch's gradient mode is global to the process).
     */
    AttributionResult run(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes, AttributionListener listener);

    default AttributionResult run(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes) {
        return run(model, pairs, nodes, AttributionListener.NONE);
    }
}
