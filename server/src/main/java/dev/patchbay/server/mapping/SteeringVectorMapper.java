package dev.patchbay.server.mapping;

import dev.patchbay.generation.SteeringVector;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.operations.MakeSteeringVector;
import dev.patchbay.operations.SteeringVectors;
import dev.patchbay.proto.v1.SteeringVectorRequest;
import dev.patchbay.proto.v1.SteeringVectorResponse;
import dev.patchbay.server.security.Caller;
import java.util.ArrayList;
import java.util.List;

/** MakeSteeringVector: the request to {@link MakeSteeringVector}, kept with its model; the vector back to the wire. */
public final class SteeringVectorMapper {
    private SteeringVectorMapper() {}

    public static Prepared<SteeringVectorResponse> prepare(Inputs in, SteeringVectorRequest r) throws RequestException {
        ServedModel model = in.model(r.getModel());
        List<SteeringVector.Contrast> pairs = new ArrayList<>();
        for (int i = 0; i < r.getPairsCount(); i++) {
            var c = r.getPairs(i);
            pairs.add(new SteeringVector.Contrast(
                    in.prompt(model, c.getPositive(), "pairs[" + i + "].positive", r.getAllowUnknownTokens()),
                    in.prompt(model, c.getNegative(), "pairs[" + i + "].negative", r.getAllowUnknownTokens())));
        }
        SteeringVector.Reading reading = switch (r.getReading()) {
            case READING_LAST_TOKEN -> SteeringVector.Reading.LAST_TOKEN;
            case READING_MEAN_OVER_POSITIONS -> SteeringVector.Reading.MEAN_OVER_POSITIONS;
            default -> throw RequestException.invalid("reading: unknown value " + r.getReadingValue());
        };
        // The caller's own namespace, taken here on the call's thread (the vector is kept on a job's).
        SteeringVectors.Namespace vectors = model.vectors().of(Caller.current());
        MakeSteeringVector.Plan plan;
        try {
            plan = MakeSteeringVector.plan(
                    new MakeSteeringVector.Request(r.getSite(), pairs, reading, r.getName()), model.serving(), vectors);
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        return new Prepared<>(model, "steering-vector", r.getSite(), pairs.size(), (runner, out) -> {
            MakeSteeringVector.Made made = MakeSteeringVector.run(runner, plan, vectors);
            SteeringVectorResponse.Builder response =
                    SteeringVectorResponse.newBuilder().setName(made.name()).setSite(made.site());
            for (double v : made.values()) {
                response.addValues(v);
            }
            out.send().accept(response.setNorm(made.norm()).build());
        });
    }
}
