package dev.patchbay.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.generation.Generation;
import dev.patchbay.model.Intervention;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.passes.Budget;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Interventions are checked against the model in the engine, whoever built them: a front end that builds its own
 * (the command line) meets the same refusals through {@link Generate#plan}, naming the field as the plan sees it.
 */
class InterventionsTest {
    private static LoadedModel loaded;
    private static Serving on;

    @BeforeAll
    static void load() {
        loaded = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        on = new Serving(
                loaded.transformer(),
                new Budget(loaded.transformer().config(), 4, 1L << 30),
                RequestLimits.unlimited(8));
    }

    @AfterAll
    static void close() {
        loaded.close();
    }

    private static Generate.Request request(List<Generation.Steer> steers, List<Generation.PatchFrom> patches) {
        return new Generate.Request(
                List.of(new int[] {1, 2, 3, 4}), steers, patches, 2, null, false, 0, 0, 0, 0, 0, null);
    }

    private static String refusal(List<Generation.Steer> steers, List<Generation.PatchFrom> patches) {
        return assertThrows(InvalidRequest.class, () -> Generate.plan(request(steers, patches), on))
                .getMessage();
    }

    /**
     * A patch's sources are forward runs, charged with the steps against the run limit: 200 patches of 4,096 sources
     * ran until the client's deadline before. Here 3 prompts x 2 steps and 2 patches of 3 sources fit 12 runs, not 11.
     */
    @Test
    void patchSourcesAreChargedAsRuns() {
        Generation.PatchFrom patch = new Generation.PatchFrom(
                "blocks.0.hook_resid_pre",
                List.of(new int[] {1, 2}, new int[] {3, 4}, new int[] {5, 6}),
                Ablation.MEAN,
                null,
                0);
        Generate.Request request = new Generate.Request(
                List.of(new int[] {1, 2, 3, 4}, new int[] {1, 2, 3, 5}, new int[] {1, 2, 3, 6}),
                List.of(),
                List.of(patch, patch),
                2,
                null,
                false,
                0,
                0,
                0,
                0,
                0,
                null);
        Serving budgeted = new Serving(on.model(), on.budget(), new RequestLimits(12, 64, 256, 8));
        Generate.plan(request, budgeted);
        Serving tighter = new Serving(on.model(), on.budget(), new RequestLimits(11, 64, 256, 8));
        String refused = assertThrows(InvalidRequest.class, () -> Generate.plan(request, tighter))
                .getMessage();
        assertEquals("patches: 6 source runs and 3 prompts x 2 steps exceed the server's limit of 11 runs", refused);
    }

    /** Interventions at positions no sequence reaches were accepted and never applied. */
    @Test
    void aGivenPositionBeyondEverySequenceIsRefused() {
        Generation.Steer late = new Generation.Steer(
                new Intervention("blocks.0.hook_resid_pre", Intervention.Op.ZERO, 0, new int[] {2, 6}, null, null, 1),
                Generation.Positions.GIVEN);
        assertEquals(
                "steers[0].positions[1]: 6 is beyond the last position any sequence reaches (5: the longest prompt,"
                        + " 4 tokens, and 2 new ones)",
                refusal(List.of(late), List.of()));
    }

    @Test
    void aSteerBuiltElsewhereIsCheckedByThePlan() {
        int heads = loaded.transformer().config().nHeads();
        Generation.Steer unknownSite = new Generation.Steer(
                new Intervention("blocks.0.hook_nothing", Intervention.Op.ZERO, 0, null, null, null, 1),
                Generation.Positions.ALL);
        assertEquals(
                "steers[0].site: 'blocks.0.hook_nothing' is not a hook site of the model (ListModels lists them)",
                refusal(List.of(unknownSite), List.of()));
        Generation.Steer head = new Generation.Steer(
                new Intervention("blocks.0.attn.hook_z", Intervention.Op.ZERO, 0, null, new int[] {heads}, null, 1),
                Generation.Positions.ALL);
        assertEquals(
                "steers[0].units[0]: " + heads + " outside [0, " + heads + ") at blocks.0.attn.hook_z",
                refusal(List.of(head), List.of()));
        Generation.Steer wide = new Generation.Steer(
                new Intervention(
                        "blocks.0.hook_resid_pre", Intervention.Op.ADD, 0, null, null, new double[] {1, 2, 3}, 1),
                Generation.Positions.ALL);
        assertEquals(
                "steers[0].value: 3 numbers; give 1, or "
                        + loaded.transformer().config().dModel() + " (the last axis of blocks.0.hook_resid_pre)",
                refusal(List.of(wide), List.of()));
    }

    @Test
    void aPatchLongerThanThePromptsOrOnAnAttentionMapIsRefused() {
        Generation.PatchFrom longer =
                new Generation.PatchFrom("blocks.0.hook_resid_pre", new int[] {1, 2, 3, 4, 5}, null);
        assertEquals(
                "patches[0].source: 5 tokens, longer than the shortest prompt (4)",
                refusal(List.of(), List.of(longer)));
        Generation.PatchFrom map = new Generation.PatchFrom("blocks.0.attn.hook_pattern", new int[] {1, 2}, null);
        assertEquals(
                "patches[0].site: 'blocks.0.attn.hook_pattern' is not a hook site of the model that generation"
                        + " patches (attention maps are not)",
                refusal(List.of(), List.of(map)));
    }

    @Test
    void aFrontEndBuildsCheckedValuesNamingItsOwnField() {
        InvalidRequest e = assertThrows(
                InvalidRequest.class,
                () -> Interventions.steer(
                        "interventions[2]",
                        on,
                        "blocks.0.hook_resid_pre",
                        Intervention.Op.ADD,
                        Generation.Positions.ALL,
                        null,
                        null,
                        new double[] {Double.NaN},
                        1));
        assertEquals("interventions[2].value[0]: must be a finite number, got NaN", e.getMessage());
        Generation.PatchFrom mean = Interventions.patch(
                "interventions[0]",
                on,
                List.of(new int[] {1, 2, 3}),
                "blocks.0.hook_resid_pre",
                List.of(new int[] {1, 2}, new int[] {3, 4}),
                Ablation.MEAN,
                null,
                0);
        assertEquals(Ablation.MEAN, mean.kind());
    }
}
