package dev.patchbay.server.mapping;

import dev.patchbay.generation.Generation;
import dev.patchbay.model.Intervention;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.operations.Interventions;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.operations.SteeringVectors;
import dev.patchbay.proto.v1.InterventionOp;
import dev.patchbay.server.security.Caller;
import java.util.ArrayList;
import java.util.List;

/**
 * Interventions from the wire: a change at a hook site (add, set, scale, zero; at units and positions; a named
 * steering vector) or a patch from source prompts (one prompt, a mean, a resample), mapped to the engine's
 * {@link Interventions}, which checks them against the model and names the field.
 */
final class InterventionMapper {
    private InterventionMapper() {}

    /** Whether the wire's op patches from source prompts rather than changing the activation in place. */
    static boolean isPatch(dev.patchbay.proto.v1.Intervention in) {
        return in.getOp() == InterventionOp.OP_PATCH
                || in.getOp() == InterventionOp.OP_MEAN
                || in.getOp() == InterventionOp.OP_RESAMPLE;
    }

    /** A patch from source prompts; the sources are counted before any is tokenized. */
    static Generation.PatchFrom patchFrom(
            Inputs inputs,
            ServedModel model,
            dev.patchbay.proto.v1.Intervention in,
            String at,
            List<int[]> prompts,
            long seed,
            boolean allowUnknown)
            throws RequestException {
        boolean one = in.getOp() == InterventionOp.OP_PATCH;
        List<int[]> sources = new ArrayList<>();
        try {
            if (one) {
                if (!in.hasSource()) {
                    throw RequestException.invalid(at + ".source: OP_PATCH needs the prompt to patch from");
                }
                sources.add(inputs.prompt(model, in.getSource(), at + ".source", allowUnknown));
            } else {
                Interventions.checkSourceCount(in.getSourcesCount(), at + ".sources", model.serving());
                for (int j = 0; j < in.getSourcesCount(); j++) {
                    sources.add(inputs.prompt(model, in.getSources(j), at + ".sources[" + j + "]", allowUnknown));
                }
            }
            Ablation kind = switch (in.getOp()) {
                case OP_MEAN -> Ablation.MEAN;
                case OP_RESAMPLE -> Ablation.RESAMPLE;
                default -> Ablation.NOISE_PROMPT;
            };
            return Interventions.patch(
                    at, model.serving(), prompts, in.getSite(), sources, kind, ints(in.getUnitsList()), seed);
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
    }

    /** A change in place; a named steering vector is looked up on the served model. */
    /** Every operation the contract has, as a refusal lists them (read from the enum, so none is left out). */
    private static final String OPERATIONS = java.util.Arrays.stream(InterventionOp.values())
            .filter(o -> o != InterventionOp.UNRECOGNIZED && o.getNumber() != 0)
            .map(Enum::name)
            .collect(java.util.stream.Collectors.joining(", "));

    static Generation.Steer steer(String modelName, ServedModel model, dev.patchbay.proto.v1.Intervention in, String at)
            throws RequestException {
        Intervention.Op op = switch (in.getOp()) {
            case OP_ADD -> Intervention.Op.ADD;
            case OP_SET -> Intervention.Op.SET;
            case OP_SCALE -> Intervention.Op.SCALE;
            case OP_ZERO -> Intervention.Op.ZERO;
            default -> throw RequestException.invalid(at + ".op: name one of " + OPERATIONS);
        };
        double[] value =
                in.getValueList().stream().mapToDouble(Double::doubleValue).toArray();
        if (!in.getVector().isEmpty()) {
            SteeringVectors.Kept kept = model.vectors().of(Caller.current()).get(in.getVector());
            if (kept == null) {
                throw RequestException.invalid(at + ".vector: no steering vector '" + in.getVector() + "' was made"
                        + " for " + modelName + " (MakeSteeringVector makes one)");
            }
            if ((op != Intervention.Op.ADD && op != Intervention.Op.SET) || value.length > 0) {
                throw RequestException.invalid(at + ".vector: only add and set take a vector, and not with value");
            }
            value = kept.values();
        }
        Generation.Positions where = switch (in.getWhere()) {
            case POSITIONS_ALL -> Generation.Positions.ALL;
            case POSITIONS_PROMPT -> Generation.Positions.PROMPT;
            case POSITIONS_GENERATED -> Generation.Positions.GENERATED;
            case POSITIONS_GIVEN -> Generation.Positions.GIVEN;
            default -> throw RequestException.invalid(at + ".where: unknown value " + in.getWhereValue());
        };
        try {
            return Interventions.steer(
                    at,
                    model.serving(),
                    in.getSite(),
                    op,
                    where,
                    ints(in.getPositionsList()),
                    ints(in.getUnitsList()),
                    value,
                    in.hasCoefficient() ? in.getCoefficient() : 1);
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
    }

    private static int[] ints(List<Integer> list) {
        return list.stream().mapToInt(Integer::intValue).toArray();
    }
}
