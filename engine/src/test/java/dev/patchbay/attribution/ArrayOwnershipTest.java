package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.Patch;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.GradientEstimator;
import dev.patchbay.passes.GradientVariant;
import dev.patchbay.passes.GradientWork;
import dev.patchbay.passes.PackedCleanSide;
import dev.patchbay.passes.PassContext;
import dev.patchbay.passes.PatchBatch;
import dev.patchbay.passes.PatchRow;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * DJL attaches an operation's result to the manager of its first input. A batched pass whose inputs live in a
 * long-lived manager (a request's clean run, the cache) must still leave nothing there: otherwise every batch
 * of a request's thousands stays in memory until the request ends (exhaustive neuron patching of one prompt
 * once grew past 20 GB and was killed).
 */
class ArrayOwnershipTest {
    private static LoadedModel loaded;
    private static HookedTransformer model;

    @BeforeAll
    static void load() {
        loaded = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        model = loaded.transformer();
    }

    @AfterAll
    static void close() {
        loaded.close();
    }

    private static final int[] CLEAN = {5, 9, 2, 7, 3, 8};
    private static final int[] NOISE = {5, 4, 2, 6, 3, 8};
    private static final Metric METRIC = Metric.logitDiff(new int[] {11}, new int[] {12});

    @Test
    void patchedBatchesLeaveNothingWithTheirInputs() {
        String site = HookSites.mlp(1, "post");
        try (NDManager owner = NDManager.newBaseManager("PyTorch")) {
            ForwardResult clean = model.forward(
                    owner,
                    TokenBatch.of(CLEAN),
                    Hooks.builder().cache(Set.of(HookSites.residPre(1))).build());
            ForwardResult noise = model.forward(
                    owner,
                    TokenBatch.of(NOISE),
                    Hooks.builder().cache(Set.of(site)).build());
            NDArray residPre = clean.activation(HookSites.residPre(1));
            NDArray reference = clean.logits().get("0:1, -1, :").logSoftmax(-1);
            NDArray source = noise.activation(site).get("0");
            for (int rows : new int[] {1, 3}) {
                List<PatchRow> batch = new ArrayList<>();
                for (int r = 0; r < rows; r++) {
                    batch.add(new PatchRow(
                            CLEAN,
                            1,
                            residPre,
                            List.of(new PatchRow.SitePatch(
                                    site, Patch.of(0, source, new int[] {r + 1}, new int[] {r}))),
                            METRIC,
                            CLEAN.length - 1,
                            reference));
                }
                int before = owner.getManagedArrays().size();
                new PatchBatch(batch).run(PassContext.of(model));
                assertEquals(
                        before, owner.getManagedArrays().size(), "a batch of " + rows + " left arrays with its inputs");
            }
        }
    }

    @Test
    void gradientBatchesFromCachedCleanSidesLeaveNothingInTheCache() {
        NodeSet nodes = NodeSet.attentionAndNeurons();
        GradientWork work = new GradientWork(
                List.of(new PromptPair(CLEAN, NOISE, METRIC), new PromptPair(NOISE, CLEAN, METRIC)),
                nodes,
                GradientVariant.ATP_QK_FIX);
        try (NDManager cache = NDManager.newBaseManager("PyTorch")) {
            List<PackedCleanSide> cached = new ArrayList<>();
            // As the cache does: it takes the packed arrays over.
            GradientEstimator.run(
                    model,
                    work,
                    null,
                    sides -> sides.forEach(s -> {
                        s.parts().forEach(p -> p.attach(cache));
                        cached.add(s);
                    }));
            int before = cache.getManagedArrays().size();
            GradientEstimator.run(model, work, cached, null);
            assertEquals(before, cache.getManagedArrays().size(), "a batch left arrays with its cached clean sides");
        }
    }
}
