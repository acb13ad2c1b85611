package dev.patchbay.execution;

import dev.patchbay.model.ModelConfig;
import dev.patchbay.passes.Pass;
import java.util.concurrent.CompletableFuture;

/**
 * One submitted pass as the device's queue sees it: its request, its merge key, its size in rows, tokens and bytes,
 * and the future its request waits on. Any {@link Pass} fits: the queue and the device know no pass kind.
 */
final class QueuedPass<T> implements BatchQueue.Task<QueuedPass<?>> {
    final Device.Job job;
    final Pass<T> pass;
    final CompletableFuture<T> result = new CompletableFuture<>();
    /** Set on the device thread before {@link #result} completes; read after it. */
    volatile boolean shared;

    private final Object mergeKey;
    private final ModelConfig config;
    private final int elementBytes;

    QueuedPass(Device.Job job, Pass<T> pass, ModelConfig config, int elementBytes) {
        this.job = job;
        this.pass = pass;
        this.mergeKey = pass.mergeKey();
        this.config = config;
        this.elementBytes = elementBytes;
    }

    @Override
    public boolean mergeable() {
        return mergeKey != null;
    }

    /** Passes of one class with equal merge keys, so one result type. */
    @Override
    public boolean compatible(QueuedPass<?> other) {
        return mergeKey != null && other.pass.getClass() == pass.getClass() && mergeKey.equals(other.mergeKey);
    }

    @Override
    public int rows() {
        return pass.rowCount();
    }

    @Override
    public int length() {
        return pass.length();
    }

    @Override
    public long bytes(int paddedLength) {
        return pass.bytes(config, elementBytes, paddedLength);
    }

    @Override
    public void drop() {
        result.cancel(false);
    }
}
