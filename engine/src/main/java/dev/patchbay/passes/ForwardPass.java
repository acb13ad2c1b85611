package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.model.TokenBatch;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * One forward pass of {@code tokens}, keeping {@code sites} and the logits, in {@code scope}. A clean prompt's run
 * ({@code clean}) is served from the runner's {@link CleanStore} when it keeps every site, and kept there otherwise,
 * with every layer's residual stream (what activation patching resumes from). Never merged: each request reads its
 * own sites.
 */
public record ForwardPass(NDManager scope, int[] tokens, Set<String> sites, boolean clean)
        implements Pass<ForwardPass.Activations> {
    /** The activations of one forward pass, and whether they came from the cache. */
    public record Activations(Map<String, NDArray> sites, NDArray logits, boolean fromCache) {}

    @Override
    public int rowCount() {
        return 1;
    }

    @Override
    public int length() {
        return tokens.length;
    }

    @Override
    public long bytes(ModelConfig config, int elementBytes, int paddedLength) {
        boolean maps = sites.stream().anyMatch(s -> HookSites.layoutOf(s) == SiteLayout.ATTENTION_MAP);
        return PassMemory.forwardRowBytes(config, paddedLength, elementBytes, maps);
    }

    @Override
    public Activations run(PassContext context) {
        HookedTransformer model = context.model();
        CleanStore cache = context.cache();
        if (!clean || !cache.enabled()) {
            ForwardResult r = model.forward(
                    scope, TokenBatch.of(tokens), Hooks.builder().cache(sites).build());
            return new Activations(r.activations(), r.logits(), false);
        }
        Activations hit = cache.activations(tokens, sites, scope);
        if (hit != null) {
            return hit;
        }
        Set<String> kept = new LinkedHashSet<>(sites);
        for (int l = 0; l < model.config().nLayers(); l++) {
            kept.add(HookSites.residPre(l));
        }
        ForwardResult r = model.forward(
                scope, TokenBatch.of(tokens), Hooks.builder().cache(kept).build());
        cache.putActivations(tokens, r.activations(), r.logits());
        return new Activations(r.activations(), r.logits(), false);
    }

    @Override
    public void count(Activations result, PassTally tally) {
        if (clean) {
            if (result.fromCache()) {
                tally.hits(1);
            } else {
                tally.misses(1);
            }
        }
    }
}
