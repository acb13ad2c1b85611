package dev.patchbay.operations;

import dev.patchbay.generation.SteeringVector;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.passes.PassRunner;
import java.util.List;

/**
 * A contrastive steering vector at a residual-stream site, kept under a name for generation's interventions: the
 * MakeSteeringVector use-case.
 */
public final class MakeSteeringVector {
    /** The longest name a vector may have. */
    public static final int MAX_NAME = 200;

    private MakeSteeringVector() {}

    public record Request(
            String site, List<SteeringVector.Contrast> pairs, SteeringVector.Reading reading, String name) {
        public Request {
            pairs = List.copyOf(pairs);
        }
    }

    public record Plan(Request request) {}

    /** The vector made: its name, site and values. */
    public record Made(String name, String site, double[] values) {
        public double norm() {
            double sum = 0;
            for (double v : values) {
                sum += v * v;
            }
            return Math.sqrt(sum);
        }
    }

    public static Plan plan(Request request, Serving on, SteeringVectors.Namespace kept) {
        String name = request.name();
        if (name == null || name.isBlank() || name.length() > MAX_NAME) {
            throw InvalidRequest.invalid("name: a name of 1 to " + MAX_NAME + " characters is needed");
        }
        String site = request.site();
        if (!on.model().hookSites().contains(site) || HookSites.layoutOf(site) != SiteLayout.RESIDUAL) {
            throw InvalidRequest.invalid("site: '" + site + "' is not a residual-stream hook site of the"
                    + " model (blocks.L.hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out, hook_mlp_out)");
        }
        Checks.count(request.pairs().size(), "pairs", "contrastive pair", on);
        kept.checkRoom(name);
        return new Plan(request);
    }

    /** Makes the vector and keeps it in {@code kept} under the request's name. */
    public static Made run(PassRunner runner, Plan plan, SteeringVectors.Namespace kept) {
        Request request = plan.request();
        double[] values = SteeringVector.contrastive(runner, request.site(), request.pairs(), request.reading());
        kept.put(request.name(), new SteeringVectors.Kept(request.site(), values));
        return new Made(request.name(), request.site(), values);
    }
}
