package dev.patchbay.passes;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.TokenBatch;
import java.util.List;
import java.util.Set;

/** Runs every pass at once on the calling thread, with no cache and no merging. */
final class DirectRunner implements PassRunner {
    private final HookedTransformer model;

    DirectRunner(HookedTransformer model) {
        this.model = model;
    }

    @Override
    public HookedTransformer model() {
        return model;
    }

    @Override
    public Activations forward(NDManager scope, int[] tokens, Set<String> sites, boolean clean) {
        ForwardResult r = model.forward(
                scope, TokenBatch.of(tokens), Hooks.builder().cache(sites).build());
        return new Activations(r.activations(), r.logits(), false);
    }

    @Override
    public RowResults patchRows(List<PatchRow> rows) {
        return new RowResults(PatchBatch.run(model, rows), false);
    }

    @Override
    public GradientEstimates gradients(GradientWork work) {
        return GradientEstimator.run(model, work);
    }

    @Override
    public double[] circuitRows(List<CircuitBatch.Row> rows, int readers, int writers) {
        return CircuitBatch.run(model, rows, readers, writers);
    }

    @Override
    public ScrubBatch.Output scrubRows(NDManager out, List<ScrubBatch.Row> rows, int readers) {
        return ScrubBatch.run(model, out, rows, readers);
    }

    @Override
    public double[][] nextTokenLogits(List<dev.patchbay.model.KvCache> caches, List<GenerationStep.Row> rows) {
        return GenerationStep.run(model, caches, rows);
    }

    @Override
    public EdgeEstimates edgeGradients(EdgeWork work) {
        return EdgeEstimator.run(model, work);
    }
}
