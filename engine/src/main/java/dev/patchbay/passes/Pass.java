package dev.patchbay.passes;

import dev.patchbay.model.ModelConfig;
import java.util.List;

/**
 * One kind of pass, as a value: what a {@link PassRunner} queues, merges with other requests' passes, sizes to the
 * memory budget and runs. A new kind of pass is one class implementing this; runners, the device's queue and the
 * per-request tally need no change.
 *
 * @param <T> what the pass gives back to the method that submitted it
 */
public interface Pass<T> {
    /** Batch rows this pass takes (pairs, patched runs, sequences). */
    int rowCount();

    /** Its longest row, in tokens: a batch is padded to its longest row. */
    int length();

    /**
     * Native bytes its rows hold at the peak of a batch padded to {@code paddedLength} tokens, estimated by
     * {@link PassMemory} from the model's shape and its element size in bytes.
     */
    long bytes(ModelConfig config, int elementBytes, int paddedLength);

    /** Runs this pass alone, on the calling thread. */
    T run(PassContext context);

    /**
     * Passes of other requests with an equal key may share one batch with this one; null (the default) means this
     * pass always runs alone. Keys of different pass kinds must never be equal (a record nested in the pass's class
     * is the usual key).
     */
    default Object mergeKey() {
        return null;
    }

    /**
     * Runs {@code batch} (this pass first, then passes with an equal {@link #mergeKey}, so of this pass's class) as
     * one batch, and gives each pass's own result, in order. Only called for passes with a merge key.
     */
    default List<T> runMerged(PassContext context, List<Pass<T>> batch) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " has no merge key");
    }

    /** Records in {@code tally} what the request's summary reports of this pass's result (clean-cache use). */
    default void count(T result, PassTally tally) {}
}
