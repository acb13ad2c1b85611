package dev.patchbay.model;

import static dev.patchbay.TestCheckpoints.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.Float64Models;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.TestCheckpoints.Golden;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Reading, overwriting and differentiating hook sites, in float64 so that the oracles can be tight. */
class HookedTransformerTest extends Float64Models {
    @ParameterizedTest
    @MethodSource("models")
    void paddedBatchEqualsRunningEachPromptAlone(String name) {
        HookedTransformer model = model(name);
        Golden golden = TestCheckpoints.golden(name);
        int[][] prompts = {golden.ids(0), golden.ids(1), golden.ids(2)};
        assertNotEquals(prompts[0].length, prompts[1].length, "the test needs prompts of different lengths");
        String site = HookSites.residPost(0);
        ForwardResult batched = model.forward(
                manager, TokenBatch.of(prompts), Hooks.builder().cache(site).build());
        for (int r = 0; r < prompts.length; r++) {
            ForwardResult alone = model.forward(
                    manager,
                    TokenBatch.of(prompts[r]),
                    Hooks.builder().cache(site).build());
            String real = "{}, :{}";
            double logitError = maxAbsDiff(
                    batched.logits().get(real, r, prompts[r].length).toDoubleArray(),
                    alone.logits().get("0").toDoubleArray());
            double siteError = maxAbsDiff(
                    batched.activation(site).get(real, r, prompts[r].length).toDoubleArray(),
                    alone.activation(site).get("0").toDoubleArray());
            assertTrue(
                    logitError <= 1e-12 && siteError <= 1e-12,
                    name + " row " + r + ": logits differ by " + logitError + ", " + site + " by " + siteError);
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void patchingASiteWithItsOwnValueChangesNothing(String name) {
        HookedTransformer model = model(name);
        TokenBatch batch = TokenBatch.of(TestCheckpoints.golden(name).ids(0));
        ForwardResult clean =
                model.forward(manager, batch, Hooks.builder().cacheAll().build());
        for (String site : model.hookSites()) {
            ForwardResult patched;
            if (site.endsWith("_input")) {
                // A split input is computed only where hooks name it, and then per head: the same values summed in
                // another order, so the logits agree to rounding rather than bit for bit.
                NDArray own = model.forward(
                                manager, batch, Hooks.builder().cache(site).build())
                        .activation(site)
                        .get("0");
                patched = model.forward(
                        manager,
                        batch,
                        Hooks.builder().patch(site, Patch.whole(0, own)).build());
                assertEquals(
                        0,
                        maxAbsDiff(
                                clean.logits().toDoubleArray(), patched.logits().toDoubleArray()),
                        1e-12,
                        site);
                continue;
            }
            NDArray own = clean.activation(site).get("0");
            patched = model.forward(
                    manager,
                    batch,
                    Hooks.builder().patch(site, Patch.whole(0, own)).build());
            assertArrayEquals(clean.logits().toDoubleArray(), patched.logits().toDoubleArray(), site);
        }
    }

    /**
     * A source shorter than its row (a request's activation in a batch padded for a longer request) is padded
     * with zeros, and stays as it was: padding once wrote the pad length into the source's own cached shape,
     * which corrupted every later use of it (the server's merged batches of unequal lengths then failed).
     */
    @ParameterizedTest
    @MethodSource("models")
    void aShorterSourceIsPaddedAndLeftUnchanged(String name) {
        HookedTransformer model = model(name);
        int[] ids = TestCheckpoints.golden(name).ids(0);
        int[] longer = java.util.Arrays.copyOf(ids, ids.length + 1);
        longer[ids.length] = ids[0];
        String site = HookSites.attn(0, "z");
        ForwardResult alone = model.forward(
                manager, TokenBatch.of(ids), Hooks.builder().cache(site).build());
        NDArray source = alone.activation(site).get("0");
        ai.djl.ndarray.types.Shape before =
                new ai.djl.ndarray.types.Shape(source.getShape().getShape().clone());
        ForwardResult patched = model.forward(
                manager,
                TokenBatch.of(longer),
                Hooks.builder()
                        .patch(site, Patch.of(0, source, new int[] {0}, null))
                        .cache(site)
                        .build());
        assertEquals(before, source.getShape(), "the source's shape");
        // Position 0 got the source's own value, which is also what the longer prompt computes there.
        assertArrayEquals(
                source.get("0").toDoubleArray(),
                patched.activation(site).get("0, 0").toDoubleArray(),
                1e-12);
    }

    @ParameterizedTest
    @MethodSource("models")
    void patchingTheEmbeddingFromAnotherPromptReproducesThatPrompt(String name) {
        HookedTransformer model = model(name);
        int[] clean = {5, 17, 42, 99, 7, 64, 3, 250};
        int[] noise = {8, 120, 42, 31, 200, 11, 3, 9};
        ForwardResult noiseRun = model.forward(
                manager,
                TokenBatch.of(noise),
                Hooks.builder().cache(HookSites.EMBED).build());
        ForwardResult patched = model.forward(
                manager,
                TokenBatch.of(clean),
                Hooks.builder()
                        .patch(
                                HookSites.EMBED,
                                Patch.whole(
                                        0, noiseRun.activation(HookSites.EMBED).get("0")))
                        .build());
        assertTrue(
                maxAbsDiff(noiseRun.logits().toDoubleArray(), patched.logits().toDoubleArray()) <= 1e-12);
    }

    @ParameterizedTest
    @MethodSource("models")
    void patchesFromSeveralSourcesInOneRowApplyInOrder(String name) {
        HookedTransformer model = model(name);
        int[] clean = {5, 17, 42, 99, 7, 64};
        String site = HookSites.residPre(1);
        NDArray a = model.forward(
                        manager,
                        TokenBatch.of(new int[] {8, 120, 41, 31, 200, 11}),
                        Hooks.builder().cache(site).build())
                .activation(site)
                .get("0");
        NDArray b = model.forward(
                        manager,
                        TokenBatch.of(new int[] {9, 121, 40, 30, 201, 12}),
                        Hooks.builder().cache(site).build())
                .activation(site)
                .get("0");
        Hooks hooks = Hooks.builder()
                .cache(site)
                .patch(site, Patch.of(0, a, new int[] {1, 2}, null))
                .patch(site, Patch.of(0, b, new int[] {2, 3}, null))
                .patch(site, Patch.of(0, a, new int[] {3}, null))
                .build();
        NDArray patched = model.forward(manager, TokenBatch.of(clean), hooks)
                .activation(site)
                .get("0");
        NDArray plain = model.forward(
                        manager,
                        TokenBatch.of(clean),
                        Hooks.builder().cache(site).build())
                .activation(site)
                .get("0");
        NDArray[] expected = {plain, a, b, a, plain, plain};
        for (int t = 0; t < clean.length; t++) {
            assertTrue(
                    maxAbsDiff(
                                    expected[t].get(t).toDoubleArray(),
                                    patched.get(t).toDoubleArray())
                            <= 1e-12,
                    "position " + t + ": the last patch covering it must win");
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void aPatchReachesOnlyItsRowAndLaterPositions(String name) {
        HookedTransformer model = model(name);
        int[] clean = {5, 17, 42, 99, 7, 64, 3, 250};
        int[] noise = {8, 120, 42, 31, 200, 11, 3, 9};
        String z = HookSites.attn(0, "z");
        String post = HookSites.mlp(0, "post");
        ForwardResult noiseRun = model.forward(
                manager, TokenBatch.of(noise), Hooks.builder().cache(z, post).build());
        int position = 4;
        Hooks hooks = Hooks.builder()
                .patch(z, Patch.of(1, noiseRun.activation(z).get("0"), new int[] {position}, new int[] {2}))
                .patch(post, Patch.of(2, noiseRun.activation(post).get("0"), new int[] {position}, new int[] {7}))
                .build();
        ForwardResult patched = model.forward(manager, TokenBatch.of(clean, clean, clean), hooks);
        ForwardResult plain = model.forward(manager, TokenBatch.of(clean), Hooks.NONE);
        double[] plainLogits = plain.logits().get("0").toDoubleArray();
        assertTrue(maxAbsDiff(plainLogits, patched.logits().get("0").toDoubleArray()) <= 1e-12, "row 0 is unpatched");
        for (int row = 1; row <= 2; row++) {
            double before = maxAbsDiff(
                    plain.logits().get("0, :{}", position).toDoubleArray(),
                    patched.logits().get("{}, :{}", row, position).toDoubleArray());
            double at = maxAbsDiff(
                    plain.logits().get("0, {}", position).toDoubleArray(),
                    patched.logits().get("{}, {}", row, position).toDoubleArray());
            assertTrue(before <= 1e-12, "row " + row + ": positions before the patch must not change");
            assertTrue(at > 1e-6, "row " + row + ": the patched position must change, changed by " + at);
        }
    }

    /** Every kind of site in layer 0 plus the last residual sites: each lies on a different path to the metric. */
    private static List<String> gradientSites(HookedTransformer model) {
        List<String> sites = new ArrayList<>();
        for (String site : model.hookSites()) {
            if (site.startsWith("blocks.0.")
                    || site.equals(HookSites.EMBED)
                    || site.equals(HookSites.POS_EMBED)
                    || site.equals(HookSites.FINAL_NORMALIZED)
                    || site.equals(HookSites.residMid(1))) {
                sites.add(site);
            }
        }
        return sites;
    }

    /**
     * The captured gradient, dotted with a random direction, equals the central difference of the metric along
     * that direction, (m(x + eps d) - m(x - eps d)) / (2 eps), in float64. The truncation error is O(eps^2):
     * on tiny-llama's embedding it measured 1.6e-5, 1.6e-7 and 1.7e-9 (relative) at eps 1e-4, 1e-5 and 1e-6,
     * and rounding adds about 1e-16 / eps. At eps = 1e-6 a relative tolerance of 1e-7 is 50x the worst
     * measured error yet far below any real one (a wrong or missing path changes the result at order 1).
     */
    @ParameterizedTest
    @MethodSource("models")
    void gradientsEqualFiniteDifferencesAtEverySiteKind(String name) {
        HookedTransformer model = model(name);
        TokenBatch batch = TokenBatch.of(TestCheckpoints.golden(name).ids(2));
        Function<NDArray, NDArray> metric = Metrics.logitDiff(batch, 11, 40);
        List<String> sites = gradientSites(model);
        ForwardResult withGrads = model.forwardWithGradients(
                manager, batch, Hooks.builder().cache(sites).gradient(sites).build(), metric);
        Random random = new Random(7);
        double worst = 0;
        for (String site : sites) {
            NDArray x = withGrads.activation(site).get("0");
            NDArray direction = randomLike(x, random);
            double analytic =
                    withGrads.gradient(site).get("0").mul(direction).sum().getDouble();
            double eps = 1e-6;
            double up = metricWithPatch(model, batch, metric, site, x.add(direction.mul(eps)));
            double down = metricWithPatch(model, batch, metric, site, x.sub(direction.mul(eps)));
            double numeric = (up - down) / (2 * eps);
            worst = Math.max(worst, Math.abs(numeric - analytic) / Math.max(1, Math.abs(numeric)));
            assertEquals(numeric, analytic, 1e-7 * Math.max(1, Math.abs(numeric)), name + " " + site);
        }
        System.out.printf(
                "gradient vs finite difference %s: %d sites, max relative error %.2g%n", name, sites.size(), worst);
        assertTrue(
                withGrads.gradient(HookSites.EMBED).abs().max().getDouble() > 0,
                "gradients must not be trivially zero");
    }

    /**
     * Stopping the gradient through layer 1 leaves the forward pass bit for bit unchanged, gives zero gradient
     * inside layer 1, and at earlier sites gives the derivative of the model whose layer-1 writes are frozen at
     * their clean values (checked by finite differences with those writes patched to constants).
     */
    @ParameterizedTest
    @MethodSource("models")
    void stoppingTheGradientThroughALayerFreezesOnlyItsWrites(String name) {
        HookedTransformer model = model(name);
        TokenBatch batch = TokenBatch.of(TestCheckpoints.golden(name).ids(2));
        Function<NDArray, NDArray> metric = Metrics.logitDiff(batch, 11, 40);
        String early = HookSites.attn(0, "z");
        String inside = HookSites.mlp(1, "post");
        String attnOut = HookSites.attnOut(1);
        String mlpOut = HookSites.mlpOut(1);
        ForwardResult plain = model.forwardWithGradients(
                manager,
                batch,
                Hooks.builder().cache(early, attnOut, mlpOut).gradient(early).build(),
                metric);
        ForwardResult stopped = model.forwardWithGradients(
                manager,
                batch,
                Hooks.builder().gradient(early, inside).stopGradientThrough(1).build(),
                metric);
        assertArrayEquals(
                plain.logits().toDoubleArray(), stopped.logits().toDoubleArray(), "forward values must not change");
        assertEquals(0.0, stopped.gradient(inside).abs().max().getDouble(), "no gradient inside the stopped layer");

        NDArray x = plain.activation(early).get("0");
        NDArray direction = randomLike(x, new Random(3));
        double eps = 1e-6;
        Function<NDArray, Hooks> frozen = value -> Hooks.builder()
                .patch(early, Patch.whole(0, value))
                .patch(attnOut, Patch.whole(0, plain.activation(attnOut).get("0")))
                .patch(mlpOut, Patch.whole(0, plain.activation(mlpOut).get("0")))
                .build();
        double up = metric.apply(model.forward(manager, batch, frozen.apply(x.add(direction.mul(eps))))
                        .logits())
                .getDouble(0);
        double down = metric.apply(model.forward(manager, batch, frozen.apply(x.sub(direction.mul(eps))))
                        .logits())
                .getDouble(0);
        double numeric = (up - down) / (2 * eps);
        double analytic = stopped.gradient(early).get("0").mul(direction).sum().getDouble();
        double unstopped = plain.gradient(early).get("0").mul(direction).sum().getDouble();
        assertEquals(numeric, analytic, 1e-7 * Math.max(1, Math.abs(numeric)));
        assertTrue(Math.abs(unstopped - analytic) > 1e-4, "the stop must change the gradient of an earlier site");
    }

    @ParameterizedTest
    @MethodSource("models")
    void eachRowOfABatchGetsItsOwnGradient(String name) {
        HookedTransformer model = model(name);
        Golden golden = TestCheckpoints.golden(name);
        String site = HookSites.attn(0, "v");
        TokenBatch both = TokenBatch.of(golden.ids(1), golden.ids(2));
        NDArray batched = model.forwardWithGradients(
                        manager, both, Hooks.builder().gradient(site).build(), Metrics.logitDiff(both, 11, 40))
                .gradient(site);
        for (int r = 0; r < 2; r++) {
            TokenBatch alone = TokenBatch.of(golden.ids(r + 1));
            NDArray single = model.forwardWithGradients(
                            manager, alone, Hooks.builder().gradient(site).build(), Metrics.logitDiff(alone, 11, 40))
                    .gradient(site);
            double error = maxAbsDiff(
                    batched.get("{}, :{}", r, alone.length()).toDoubleArray(),
                    single.get("0").toDoubleArray());
            assertTrue(error <= 1e-12, "row " + r + " gradient differs by " + error);
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void unembeddingOnePositionPerRowGivesThoseRowsFullLogits(String name) {
        HookedTransformer model = model(name);
        Golden golden = TestCheckpoints.golden(name);
        int[][] prompts = {golden.ids(0), golden.ids(1)};
        int[] positions = {prompts[0].length - 1, 1};
        TokenBatch batch = TokenBatch.of(prompts);
        ForwardResult full = model.forward(manager, batch, Hooks.NONE);
        ForwardResult one = model.forward(
                manager, batch, Hooks.builder().unembedOnly(positions).build());
        assertEquals(
                new ai.djl.ndarray.types.Shape(2, 1, model.config().vocabSize()),
                one.logits().getShape());
        for (int r = 0; r < 2; r++) {
            double error = maxAbsDiff(
                    full.logits().get("{}, {}", r, positions[r]).toDoubleArray(),
                    one.logits().get("{}, 0", r).toDoubleArray());
            assertTrue(error <= 1e-12, name + " row " + r + ": logits differ by " + error);
        }
        var outside = assertThrows(
                IllegalArgumentException.class,
                () -> model.forward(
                        manager, batch, Hooks.builder().unembedOnly(0, 99).build()));
        assertTrue(outside.getMessage().contains("99"), outside.getMessage());
    }

    @ParameterizedTest
    @MethodSource("models")
    void badHookRequestsAreRejectedWithTheirName(String name) {
        HookedTransformer model = model(name);
        TokenBatch batch = TokenBatch.of(new int[] {1, 2, 3});
        var unknown = assertThrows(
                IllegalArgumentException.class,
                () -> model.forward(
                        manager,
                        batch,
                        Hooks.builder().cache("blocks.9.attn.hook_q").build()));
        assertTrue(unknown.getMessage().contains("blocks.9.attn.hook_q"));
        var badId = assertThrows(
                IllegalArgumentException.class,
                () -> model.forward(manager, TokenBatch.of(new int[] {1, 100000}), Hooks.NONE));
        assertTrue(badId.getMessage().contains("100000"));
        var badStop = assertThrows(
                IllegalArgumentException.class,
                () -> model.forward(
                        manager, batch, Hooks.builder().stopGradientThrough(5).build()));
        assertTrue(badStop.getMessage().contains("layer 5"));
        NDArray wrongShape = manager.zeros(new ai.djl.ndarray.types.Shape(3, 7), DataType.FLOAT64);
        var badPatch = assertThrows(
                IllegalArgumentException.class,
                () -> model.forward(
                        manager,
                        batch,
                        Hooks.builder()
                                .patch(HookSites.EMBED, Patch.whole(0, wrongShape))
                                .build()));
        assertTrue(badPatch.getMessage().contains(HookSites.EMBED));
    }

    private double metricWithPatch(
            HookedTransformer model, TokenBatch batch, Function<NDArray, NDArray> metric, String site, NDArray value) {
        ForwardResult r = model.forward(
                manager,
                batch,
                Hooks.builder().patch(site, Patch.whole(0, value)).build());
        return metric.apply(r.logits()).getDouble(0);
    }

    private NDArray randomLike(NDArray x, Random random) {
        double[] values = new double[(int) x.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextGaussian();
        }
        return manager.create(values, x.getShape());
    }
}
