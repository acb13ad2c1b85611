package dev.patchbay.generation;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.passes.ForwardPass;
import dev.patchbay.passes.PassRunner;
import java.util.List;
import java.util.Set;

/**
 * A steering vector by contrastive activation addition (Rimsky et al. 2024; Turner et al.'s activation addition):
 * the mean, over contrastive prompt pairs, of a residual-stream site's activation on the positive prompt minus that
 * on the negative, at each prompt's last token or averaged over its positions. Added with a coefficient at the same
 * site ({@link dev.patchbay.model.Intervention.Op#ADD}), it moves generation towards the positive prompts' behaviour.
 */
public final class SteeringVector {
    private SteeringVector() {}

    /** Where in each prompt the activation is read. */
    public enum Reading {
        LAST_TOKEN,
        MEAN_OVER_POSITIONS
    }

    /** A positive and a negative prompt (token ids; they may differ in length). */
    public record Contrast(int[] positive, int[] negative) {}

    /** The vector [d_model], in float64. */
    public static double[] contrastive(PassRunner runner, String site, List<Contrast> pairs, Reading reading) {
        if (HookSites.layoutOf(site) != SiteLayout.RESIDUAL) {
            throw new IllegalArgumentException("site: a steering vector is read at a residual-stream site"
                    + " (hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out, hook_mlp_out), not " + site);
        }
        if (!runner.model().hookSites().contains(site)) {
            throw new IllegalArgumentException("site: '" + site + "' is not a hook site of the model");
        }
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("pairs: at least one contrastive pair is needed");
        }
        double[] sum = new double[runner.model().config().dModel()];
        try (NDManager scope = runner.model().compute().newScope()) {
            for (Contrast c : pairs) {
                double[] pos = read(runner, scope, site, c.positive(), reading);
                double[] neg = read(runner, scope, site, c.negative(), reading);
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += (pos[i] - neg[i]) / pairs.size();
                }
            }
        }
        return sum;
    }

    private static double[] read(PassRunner runner, NDManager scope, String site, int[] tokens, Reading reading) {
        NDArray x = runner.run(new ForwardPass(scope, tokens, Set.of(site), false))
                .sites()
                .get(site); // [1, T, d]
        NDArray at = reading == Reading.LAST_TOKEN
                ? x.get(new NDIndex("0, {}", tokens.length - 1))
                : x.get(new NDIndex("0")).mean(new int[] {0});
        return at.toType(DataType.FLOAT64, false).toDoubleArray();
    }
}
