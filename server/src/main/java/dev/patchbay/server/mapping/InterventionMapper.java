package dev.patchbay.server.mapping;

import dev.patchbay.generation.Generation;
import dev.patchbay.model.HookSite;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.Intervention;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.operations.SteeringVectors;
import java.util.ArrayList;
import java.util.List;

/**
 * Interventions from the wire: a change at a hook site (add, set, scale, zero; at units and positions; a named
 * steering vector) or a patch from source prompts (one prompt, a mean, a resample), each checked against the model's
 * hook sites, units and widths, with a message naming the field.
 */
final class InterventionMapper {
    private InterventionMapper() {}

    /** A patch from a source prompt: its site (not an attention map), units, and a source no longer than a prompt. */
    static Generation.PatchFrom patchFrom(
            Inputs inputs,
            ServedModel model,
            dev.patchbay.proto.v1.Intervention in,
            String at,
            List<int[]> prompts,
            long seed,
            boolean allowUnknown)
            throws RequestException {
        String site = in.getSite();
        if (!model.loaded().transformer().hookSites().contains(site)
                || HookSites.layoutOf(site) == SiteLayout.ATTENTION_MAP) {
            throw RequestException.invalid(at + ".site: '" + site + "' is not a hook site of the model that"
                    + " generation patches (attention maps are not)");
        }
        boolean one = in.getOp() == dev.patchbay.proto.v1.InterventionOp.OP_PATCH;
        List<int[]> sources = new ArrayList<>();
        if (one) {
            if (!in.hasSource()) {
                throw RequestException.invalid(at + ".source: OP_PATCH needs the prompt to patch from");
            }
            sources.add(inputs.prompt(model, in.getSource(), at + ".source", allowUnknown));
        } else {
            if (in.getSourcesCount() == 0
                    || in.getSourcesCount() > model.serving().limits().maxPairs()) {
                throw RequestException.invalid(at + ".sources: 1 to "
                        + model.serving().limits().maxPairs() + " prompts, got " + in.getSourcesCount());
            }
            for (int j = 0; j < in.getSourcesCount(); j++) {
                sources.add(inputs.prompt(model, in.getSources(j), at + ".sources[" + j + "]", allowUnknown));
            }
        }
        int shortest = prompts.stream().mapToInt(p -> p.length).min().orElse(0);
        for (int j = 0; j < sources.size(); j++) {
            String field = one ? at + ".source" : at + ".sources[" + j + "]";
            if (sources.get(j).length > shortest) {
                throw RequestException.invalid(field + ": " + sources.get(j).length + " tokens, longer than the"
                        + " shortest prompt (" + shortest + ")");
            }
            if (in.getOp() == dev.patchbay.proto.v1.InterventionOp.OP_MEAN
                    && sources.get(j).length != sources.get(0).length) {
                throw RequestException.invalid(field + ": a mean over sources needs them of one length ("
                        + sources.get(0).length + " tokens)");
            }
        }
        int[] units = in.getUnitsList().stream().mapToInt(Integer::intValue).toArray();
        int count = HookSite.of(site).units(model.config());
        for (int u = 0; u < units.length; u++) {
            if (units[u] < 0 || units[u] >= count) {
                throw RequestException.invalid(
                        at + ".units[" + u + "]: " + units[u] + " outside [0, " + count + ") at " + site);
            }
        }
        Ablation kind = switch (in.getOp()) {
            case OP_MEAN -> Ablation.MEAN;
            case OP_RESAMPLE -> Ablation.RESAMPLE;
            default -> Ablation.NOISE_PROMPT;
        };
        return new Generation.PatchFrom(site, sources, kind, units.length == 0 ? null : units, seed);
    }

    /** An intervention checked against the model: its site, op, units, positions and value length. */
    static Generation.Steer steer(String modelName, ServedModel model, dev.patchbay.proto.v1.Intervention in, String at)
            throws RequestException {
        String site = in.getSite();
        if (!model.loaded().transformer().hookSites().contains(site)) {
            throw RequestException.invalid(
                    at + ".site: '" + site + "' is not a hook site of the model" + " (ListModels lists them)");
        }
        Intervention.Op op = switch (in.getOp()) {
            case OP_ADD -> Intervention.Op.ADD;
            case OP_SET -> Intervention.Op.SET;
            case OP_SCALE -> Intervention.Op.SCALE;
            case OP_ZERO -> Intervention.Op.ZERO;
            default ->
                throw RequestException.invalid(at + ".op: name one of OP_ADD, OP_SET, OP_SCALE, OP_ZERO, OP_PATCH");
        };
        HookSite typed = HookSite.of(site);
        SiteLayout layout = typed.layout();
        int units = typed.units(model.config());
        int[] chosen = in.getUnitsList().stream().mapToInt(Integer::intValue).toArray();
        if (units == 0 && chosen.length > 0) {
            throw RequestException.invalid(at + ".units: " + site + " is a residual site, with no heads or neurons");
        }
        for (int u = 0; u < chosen.length; u++) {
            if (chosen[u] < 0 || chosen[u] >= units) {
                throw RequestException.invalid(
                        at + ".units[" + u + "]: " + chosen[u] + " outside [0, " + units + ") at " + site);
            }
        }
        long width = typed.width(model.config()); // -1 for attention maps: as long as the sequence, checked as it runs
        boolean needsValue = op == Intervention.Op.ADD || op == Intervention.Op.SET;
        double[] named = null;
        if (!in.getVector().isEmpty()) {
            SteeringVectors.Kept kept = model.vectors().get(in.getVector());
            if (kept == null) {
                throw RequestException.invalid(at + ".vector: no steering vector '" + in.getVector() + "' was made"
                        + " for " + modelName + " (MakeSteeringVector makes one)");
            }
            if (!needsValue || in.getValueCount() > 0) {
                throw RequestException.invalid(at + ".vector: only add and set take a vector, and not with value");
            }
            named = kept.values();
        }
        int values = named != null ? named.length : in.getValueCount();
        if (needsValue
                && width > 0
                && values != 1
                && values != width
                && !(layout == SiteLayout.NEURONS && chosen.length > 0 && values == chosen.length)) {
            throw RequestException.invalid(at + ".value: " + values + " numbers; give 1, or " + width
                    + " (the last axis of " + site + ")" + (layout == SiteLayout.NEURONS ? ", or one per unit" : ""));
        }
        if (!needsValue && values > 0) {
            throw RequestException.invalid(
                    at + ".value: " + op.name().toLowerCase(java.util.Locale.ROOT) + " takes no value");
        }
        Generation.Positions where = switch (in.getWhere()) {
            case POSITIONS_ALL -> Generation.Positions.ALL;
            case POSITIONS_PROMPT -> Generation.Positions.PROMPT;
            case POSITIONS_GENERATED -> Generation.Positions.GENERATED;
            case POSITIONS_GIVEN -> Generation.Positions.GIVEN;
            default -> throw RequestException.invalid(at + ".where: unknown value " + in.getWhereValue());
        };
        int[] positions =
                in.getPositionsList().stream().mapToInt(Integer::intValue).toArray();
        if (where == Generation.Positions.GIVEN && positions.length == 0) {
            throw RequestException.invalid(at + ".positions: POSITIONS_GIVEN needs at least one position");
        }
        for (int t = 0; t < positions.length; t++) {
            if (positions[t] < 0) {
                throw RequestException.invalid(at + ".positions[" + t + "]: " + positions[t] + " is negative");
            }
        }
        double coefficient = in.hasCoefficient() ? Inputs.finite(in.getCoefficient(), at + ".coefficient") : 1;
        double[] value = named != null
                ? named
                : needsValue
                        ? in.getValueList().stream()
                                .mapToDouble(Double::doubleValue)
                                .toArray()
                        : null;
        if (value != null) {
            for (int v = 0; v < value.length; v++) {
                Inputs.finite(value[v], at + ".value[" + v + "]");
            }
        }
        return new Generation.Steer(
                new Intervention(
                        site,
                        op,
                        0,
                        where == Generation.Positions.GIVEN ? positions : null,
                        chosen.length == 0 ? null : chosen,
                        value,
                        coefficient),
                where);
    }
}
