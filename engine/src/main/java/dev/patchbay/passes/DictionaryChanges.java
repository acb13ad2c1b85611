package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.patchbay.features.Dictionary;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.Scoped;

/**
 * What a clean and a noise run change in a dictionary, flattened per position and owned by the caller's scope, as
 * values (no graph): the clean run's features, each feature's change, and the site's change with a skip transcoder's
 * skip term taken out (the term is neither a feature's nor the error's). The error term's change is the site's change
 * less the features' decoded change, so neither run's reconstruction is needed: with a gradient g at the site, the
 * error's estimate is site change . g less the features' estimates. Shared by feature AtP and feature edges.
 *
 * @param cleanFeatures [B, T, width]
 * @param features [B, T, width]
 * @param site [B, T, d_out]
 */
record DictionaryChanges(NDArray cleanFeatures, NDArray features, NDArray site) {
    static DictionaryChanges of(NDManager scope, Dictionary d, ForwardResult clean, ForwardResult noise) {
        NDArray cleanIn = values(scope, clean.activation(d.inputSite()));
        NDArray noiseIn = values(scope, noise.activation(d.inputSite()));
        NDArray cleanFeatures = d.encode(cleanIn);
        NDArray site = values(scope, noise.activation(d.site())).sub(values(scope, clean.activation(d.site())));
        if (d.skip() != null) {
            site = site.sub(d.skipTerm(noiseIn.sub(cleanIn)));
        }
        return new DictionaryChanges(cleanFeatures, d.encode(noiseIn).sub(cleanFeatures), site);
    }

    /** One batch row's changes, [T, ...]. */
    DictionaryChanges row(int r) {
        return new DictionaryChanges(cleanFeatures.get(r), features.get(r), site.get(r));
    }

    /**
     * The error term's estimate [..., T]: the site's change dotted with {@code gradient} (the site's shape) less the
     * features' estimates {@code perFeature} summed over features.
     */
    NDArray errorEstimates(NDArray gradient, NDArray perFeature) {
        return site.mul(gradient).sum(new int[] {-1}).sub(perFeature.sum(new int[] {-1}));
    }

    /** A site's value flattened per position, as a view {@code scope} owns, cut from any graph. */
    private static NDArray values(NDManager scope, NDArray siteValue) {
        return Dictionary.flat(Scoped.view(scope, siteValue)).stopGradient();
    }
}
