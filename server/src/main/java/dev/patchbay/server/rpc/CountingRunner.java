package dev.patchbay.server.rpc;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.passes.EdgeEstimates;
import dev.patchbay.passes.EdgeWork;
import dev.patchbay.passes.GradientEstimates;
import dev.patchbay.passes.GradientWork;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.PatchRow;
import java.util.List;
import java.util.Set;

/** Counts a request's cache hits and misses and the batches it shared with other requests, for its summary. */
final class CountingRunner implements PassRunner {
    private final PassRunner inner;
    private int hits;
    private int misses;
    private int shared;

    CountingRunner(PassRunner inner) {
        this.inner = inner;
    }

    @Override
    public HookedTransformer model() {
        return inner.model();
    }

    @Override
    public Activations forward(NDManager scope, int[] tokens, Set<String> sites, boolean clean) {
        Activations a = inner.forward(scope, tokens, sites, clean);
        if (clean) {
            if (a.fromCache()) {
                hits++;
            } else {
                misses++;
            }
        }
        return a;
    }

    @Override
    public RowResults patchRows(List<PatchRow> rows) {
        RowResults r = inner.patchRows(rows);
        shared += r.shared() ? 1 : 0;
        return r;
    }

    @Override
    public GradientEstimates gradients(GradientWork work) {
        GradientEstimates e = inner.gradients(work);
        shared += e.shared() ? 1 : 0;
        switch (e.cache()) {
            case HIT -> hits += work.pairs().size();
            case MISS -> misses += work.pairs().size();
            case NOT_APPLICABLE -> {}
        }
        return e;
    }

    @Override
    public double[] circuitRows(List<dev.patchbay.passes.CircuitBatch.Row> rows, int readers, int writers) {
        return inner.circuitRows(rows, readers, writers);
    }

    @Override
    public dev.patchbay.passes.ScrubBatch.Output scrubRows(
            NDManager out, List<dev.patchbay.passes.ScrubBatch.Row> rows, int readers) {
        return inner.scrubRows(out, rows, readers);
    }

    @Override
    public double[][] nextTokenLogits(
            List<dev.patchbay.model.KvCache> caches, List<dev.patchbay.passes.GenerationStep.Row> rows) {
        return inner.nextTokenLogits(caches, rows);
    }

    @Override
    public EdgeEstimates edgeGradients(EdgeWork work) {
        return inner.edgeGradients(work);
    }

    int cacheHits() {
        return hits;
    }

    int cacheMisses() {
        return misses;
    }

    int sharedBatches() {
        return shared;
    }
}
