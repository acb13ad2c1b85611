package dev.patchbay.server.mapping;

import dev.patchbay.passes.PassRunner;
import java.util.function.Consumer;

/**
 * A checked request, ready to run on its model's device: what the access log says of it, and its work, which runs
 * the request's operation and sends its events as {@code E} messages.
 *
 * @param method the method or operation, as the access log names it
 * @param what what the request scores or runs, in words ("144 nodes", "6 samples")
 * @param pairs its prompt pairs (or prompts)
 */
public record Prepared<E>(ServedModel model, String method, String what, int pairs, Work<E> work) {
    /** A request's work: its operation run through {@code runner}, its events sent to {@code out}. */
    @FunctionalInterface
    public interface Work<E> {
        void run(PassRunner runner, Output<E> out);
    }

    /**
     * Where a running request's events go: the request's id (for its Accepted event), the call, and the access log's
     * count of the forward passes it spent.
     */
    public record Output<E>(String requestId, Consumer<E> send, java.util.function.LongConsumer passes) {}
}
