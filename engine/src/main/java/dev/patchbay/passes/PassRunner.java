package dev.patchbay.passes;

import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.KvCache;
import java.util.List;
import java.util.Set;

/**
 * Where a method's passes run. In-process ({@link #direct}) they run on the calling thread; in the server
 * they queue for the model's device thread, which merges passes of concurrent requests into batches and
 * serves clean activations from a cache. Methods only orchestrate; all compute goes through here.
 */
public interface PassRunner {
    HookedTransformer model();

    /**
     * One forward pass of {@code tokens}, keeping {@code sites} and the logits. The arrays live in
     * {@code scope}. A runner may serve a clean prompt from its cache ({@code clean} says which prompts are).
     */
    Activations forward(NDManager scope, int[] tokens, Set<String> sites, boolean clean);

    /** The metric of each patched run, in order (rows of one layer). */
    RowResults patchRows(List<PatchRow> rows);

    /** Patched runs' metrics, and whether their batch also carried other requests' rows. */
    record RowResults(double[] metrics, boolean shared) {}

    /** The AtP family's passes for a batch of pairs. */
    GradientEstimates gradients(GradientWork work);

    /** Edge estimates for a batch of pairs (EAP, EAP-IG, AtP* on edges). */
    EdgeEstimates edgeGradients(EdgeWork work);

    /** Circuit runs (edges outside each row's circuit ablated): each row's metric. */
    double[] circuitRows(List<CircuitBatch.Row> rows, int readers, int writers);

    /**
     * Causal-scrubbing runs ({@link ScrubBatch}): rows of one length, all reading writers (their outputs land in
     * {@code out}) or all reading the metric.
     */
    ScrubBatch.Output scrubRows(NDManager out, List<ScrubBatch.Row> rows, int readers);

    /**
     * One generation step for a batch of sequences ({@link GenerationStep}): each row's next-token logits, in
     * float64. With caches, rows are the new tokens of the sequences they hold (in order); with none, every row is
     * recomputed whole.
     */
    double[][] nextTokenLogits(List<KvCache> caches, List<GenerationStep.Row> rows);

    /** The activations of one forward pass. */
    record Activations(
            java.util.Map<String, ai.djl.ndarray.NDArray> sites, ai.djl.ndarray.NDArray logits, boolean fromCache) {}

    static PassRunner direct(HookedTransformer model) {
        return new DirectRunner(model);
    }
}
