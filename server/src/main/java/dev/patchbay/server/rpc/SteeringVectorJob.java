package dev.patchbay.server.rpc;

import dev.patchbay.execution.Device;
import dev.patchbay.generation.SteeringVector;
import dev.patchbay.proto.v1.SteeringVectorResponse;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.stub.StreamObserver;
import java.util.function.BooleanSupplier;

/** One MakeSteeringVector request: the contrastive mean difference, kept under its name, sent back once. */
final class SteeringVectorJob extends StreamingJob<SteeringVectorResponse> {
    private final RequestParser.SteeringVectorSpec request;
    private final RequestParser parser;

    SteeringVectorJob(
            RequestParser.SteeringVectorSpec request,
            RequestParser parser,
            Device.Job job,
            StreamObserver<SteeringVectorResponse> call,
            BooleanSupplier stopping) {
        super(job, call, stopping);
        this.request = request;
        this.parser = parser;
        AccessLog.current()
                .request(
                        job.id(),
                        "steering-vector",
                        request.site(),
                        request.pairs().size());
    }

    @Override
    void work() {
        double[] values = SteeringVector.contrastive(job.runner(), request.site(), request.pairs(), request.reading());
        parser.keep(request, values);
        SteeringVectorResponse.Builder r =
                SteeringVectorResponse.newBuilder().setName(request.name()).setSite(request.site());
        double norm = 0;
        for (double v : values) {
            r.addValues(v);
            norm += v * v;
        }
        send(r.setNorm(Math.sqrt(norm)).build());
    }
}
