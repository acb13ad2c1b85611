package dev.patchbay.operations;

import dev.patchbay.generation.Generation;
import dev.patchbay.model.HookSite;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.Intervention;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.nodes.Ablation;
import java.util.List;
import java.util.Locale;

/**
 * Interventions and patches checked against the model they run on: the site is one of its hook sites, units are
 * within the site's heads or neurons, a value fits the site's last axis, positions are not negative, and a patch's
 * sources fit the prompts. Front ends build them here from what they received, so each refusal names the field as the
 * caller knows it ({@code interventions[2].units[0]}); {@link Generate#plan} checks again the ones a front end built
 * itself.
 */
public final class Interventions {
    private Interventions() {}

    /**
     * A checked steering change.
     *
     * @param field how the caller names this intervention, for errors
     * @param positions the positions when {@code where} is {@link Generation.Positions#GIVEN}, else null
     * @param units heads or neurons, or null (or empty) for all
     * @param value what add and set use (one number, one per entry of the last axis, or one per chosen neuron); null
     *     or empty for scale and zero
     */
    public static Generation.Steer steer(
            String field,
            Serving on,
            String site,
            Intervention.Op op,
            Generation.Positions where,
            int[] positions,
            int[] units,
            double[] value,
            double coefficient) {
        if (!on.model().hookSites().contains(site)) {
            throw InvalidRequest.invalid(
                    field + ".site: '" + site + "' is not a hook site of the model (ListModels lists them)");
        }
        HookSite typed = HookSite.of(site);
        int[] chosen = units == null ? new int[0] : units;
        int count = typed.units(on.config());
        if (count == 0 && chosen.length > 0) {
            throw InvalidRequest.invalid(field + ".units: " + site + " is a residual site, with no heads or neurons");
        }
        checkUnits(field, site, chosen, count);
        boolean needsValue = op == Intervention.Op.ADD || op == Intervention.Op.SET;
        int values = value == null ? 0 : value.length;
        long width = typed.width(on.config()); // -1 for attention maps: as long as the sequence, checked as it runs
        if (needsValue
                && width > 0
                && values != 1
                && values != width
                && !(typed.layout() == SiteLayout.NEURONS && chosen.length > 0 && values == chosen.length)) {
            throw InvalidRequest.invalid(field + ".value: " + values + " numbers; give 1, or " + width
                    + " (the last axis of " + site + ")"
                    + (typed.layout() == SiteLayout.NEURONS ? ", or one per unit" : ""));
        }
        if (needsValue && values == 0) {
            throw InvalidRequest.invalid(field + ".value: " + op.name().toLowerCase(Locale.ROOT) + " needs a value");
        }
        if (!needsValue && values > 0) {
            throw InvalidRequest.invalid(field + ".value: " + op.name().toLowerCase(Locale.ROOT) + " takes no value");
        }
        if (where == Generation.Positions.GIVEN && (positions == null || positions.length == 0)) {
            throw InvalidRequest.invalid(field + ".positions: POSITIONS_GIVEN needs at least one position");
        }
        int[] given = positions == null ? new int[0] : positions;
        for (int t = 0; t < given.length; t++) {
            if (given[t] < 0) {
                throw InvalidRequest.invalid(field + ".positions[" + t + "]: " + given[t] + " is negative");
            }
        }
        Checks.finite(coefficient, field + ".coefficient");
        double largest = largestValue(on);
        for (int v = 0; v < values; v++) {
            Checks.finite(value[v], field + ".value[" + v + "]");
            if (Math.abs(value[v]) > largest) {
                throw InvalidRequest.invalid(field + ".value[" + v + "]: " + value[v] + " is beyond the model's "
                        + on.model().dataType() + " range (+-" + largest + "): it would be infinite there");
            }
        }
        return new Generation.Steer(
                new Intervention(
                        site,
                        op,
                        0,
                        where == Generation.Positions.GIVEN ? given : null,
                        chosen.length == 0 ? null : chosen,
                        needsValue ? value : null,
                        coefficient),
                where);
    }

    /** The largest finite magnitude of the model's compute precision. */
    private static double largestValue(Serving on) {
        return switch (on.model().dataType()) {
            case FLOAT16 -> 65504;
            case BFLOAT16 -> 3.3895313892515355e38;
            case FLOAT32 -> Float.MAX_VALUE;
            default -> Double.MAX_VALUE;
        };
    }

    /**
     * Refuses a steer's given positions that no sequence reaches: past a prompt of {@code longest} tokens and its
     * {@code newTokens} new ones, the intervention would be accepted and never applied.
     */
    static void checkReach(Generation.Steer s, String field, long longest, int newTokens) {
        int[] positions = s.change().positions();
        if (s.where() != Generation.Positions.GIVEN || positions == null) {
            return;
        }
        long end = longest + newTokens;
        for (int t = 0; t < positions.length; t++) {
            if (positions[t] >= end) {
                throw InvalidRequest.invalid(field + ".positions[" + t + "]: " + positions[t] + " is beyond the last"
                        + " position any sequence reaches (" + (end - 1) + ": the longest prompt, " + longest
                        + " tokens, and " + newTokens + " new ones)");
            }
        }
    }

    /** A steer a front end built itself, checked as {@link #steer} checks one. */
    static void check(Generation.Steer s, String field, Serving on) {
        Intervention c = s.change();
        steer(field, on, c.site(), c.op(), s.where(), c.positions(), c.units(), c.value(), c.coefficient());
    }

    /** Refuses no sources, or more than the pair limit (a front end may ask this before tokenizing any). */
    public static void checkSourceCount(int count, String field, Serving on) {
        if (count == 0 || count > on.limits().maxPairs()) {
            throw InvalidRequest.invalid(field + ": 1 to " + on.limits().maxPairs() + " prompts, got " + count);
        }
    }

    /**
     * A checked patch from source prompts: a hook site that is not an attention map, units within it, and sources no
     * longer than the shortest prompt (of one length for a mean).
     *
     * @param field how the caller names this intervention; its sources are {@code field.source} for one prompt and
     *     {@code field.sources[j]} otherwise
     */
    public static Generation.PatchFrom patch(
            String field,
            Serving on,
            List<int[]> prompts,
            String site,
            List<int[]> sources,
            Ablation kind,
            int[] units,
            long seed) {
        if (!on.model().hookSites().contains(site) || HookSites.layoutOf(site) == SiteLayout.ATTENTION_MAP) {
            throw InvalidRequest.invalid(field + ".site: '" + site + "' is not a hook site of the model that"
                    + " generation patches (attention maps are not)");
        }
        boolean one = kind == Ablation.NOISE_PROMPT;
        if (kind == Ablation.ZERO) {
            throw InvalidRequest.invalid(field + ".op: a patch takes its activation from a source; zero is an op");
        }
        if (one && sources.size() != 1) {
            throw InvalidRequest.invalid(
                    field + ".source: a patch from one prompt has one source, not " + sources.size());
        }
        checkSourceCount(sources.size(), field + (one ? ".source" : ".sources"), on);
        int shortest = prompts.stream().mapToInt(p -> p.length).min().orElse(0);
        for (int j = 0; j < sources.size(); j++) {
            String at = one ? field + ".source" : field + ".sources[" + j + "]";
            if (sources.get(j).length > shortest) {
                throw InvalidRequest.invalid(at + ": " + sources.get(j).length + " tokens, longer than the shortest"
                        + " prompt (" + shortest + ")");
            }
            if (kind == Ablation.MEAN && sources.get(j).length != sources.get(0).length) {
                throw InvalidRequest.invalid(
                        at + ": a mean over sources needs them of one length (" + sources.get(0).length + " tokens)");
            }
        }
        int[] chosen = units == null ? new int[0] : units;
        checkUnits(field, site, chosen, HookSite.of(site).units(on.config()));
        return new Generation.PatchFrom(site, sources, kind, chosen.length == 0 ? null : chosen, seed);
    }

    /** A patch a front end built itself, checked as {@link #patch} checks one. */
    static void check(Generation.PatchFrom p, String field, List<int[]> prompts, Serving on) {
        patch(field, on, prompts, p.site(), p.sources(), p.kind(), p.units(), p.seed());
    }

    private static void checkUnits(String field, String site, int[] units, int count) {
        for (int u = 0; u < units.length; u++) {
            if (units[u] < 0 || units[u] >= count) {
                throw InvalidRequest.invalid(
                        field + ".units[" + u + "]: " + units[u] + " outside [0, " + count + ") at " + site);
            }
        }
    }
}
