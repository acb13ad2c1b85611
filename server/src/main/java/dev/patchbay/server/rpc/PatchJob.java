package dev.patchbay.server.rpc;

import dev.patchbay.attribution.NodePatching;
import dev.patchbay.execution.Device;
import dev.patchbay.nodes.Cost;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.PatchEvent;
import dev.patchbay.proto.v1.PatchResult;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One Patch request, run on its own thread: each group's effect is sent as soon as its batch completes. */
final class PatchJob implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(PatchJob.class);

    private final RequestParser.Patch request;
    private final Device.Job job;
    private final StreamObserver<PatchEvent> response;
    private final int chunk;
    private final BooleanSupplier serverStopping;
    private final AccessLog.Entry access;

    PatchJob(
            RequestParser.Patch request,
            Device.Job job,
            StreamObserver<PatchEvent> response,
            BooleanSupplier serverStopping) {
        this.request = request;
        this.job = job;
        this.response = response;
        this.serverStopping = serverStopping;
        this.access = AccessLog.current();
        access.request(
                job.id(),
                "patch",
                request.groups().size() + " groups",
                request.pairs().size());
        this.chunk = request.patchRows();
    }

    @Override
    public void run() {
        try (job) {
            String metric = RequestParser.metricText(request.model(), request.pairs());
            response.onNext(PatchEvent.newBuilder()
                    .setAccepted(Accepted.newBuilder()
                            .setRequestId(job.id())
                            .setNodeCount(request.groups().size())
                            .setMethod("ap")
                            .setMetric(metric)
                            .setPlannedForwardPasses(request.pairs().size()
                                    * (2.0 + request.groups().size())))
                    .build());
            PassRunner runner = job.runner();
            Cost cost;
            try (NodePatching patching = new NodePatching(
                    runner,
                    request.pairs(),
                    request.groups().stream().flatMap(List::stream).toList(),
                    chunk)) {
                patching.patch(request.groups(), (index, effect, perPair) -> {
                    var result = PatchResult.newBuilder()
                            .setGroup(request.names().get(index))
                            .setEffect(effect);
                    Arrays.stream(perPair).forEach(result::addPerPair);
                    response.onNext(PatchEvent.newBuilder().setResult(result).build());
                });
                cost = patching.cost();
            }
            access.passes(Math.round(cost.forwardPasses()));
            response.onNext(PatchEvent.newBuilder()
                    .setSummary(Summary.newBuilder()
                            .setMethod("ap")
                            .setMetric(metric)
                            .setPairs(request.pairs().size())
                            .setForwardPasses(cost.forwardPasses())
                            .setComputeForwardEquivalents(cost.computeEquivalents())
                            .setWallSeconds(cost.wallSeconds())
                            .setCacheHits(runner.tally().cacheHits())
                            .setCacheMisses(runner.tally().cacheMisses())
                            .setSharedBatches(runner.tally().sharedBatches()))
                    .build());
            response.onCompleted();
        } catch (CancellationException | StatusRuntimeException e) {
            log.info("patch request {} ended: {}", job.id(), e.toString());
            if (e instanceof CancellationException && serverStopping.getAsBoolean()) {
                response.onError(PatchbayService.stoppingStatus().asRuntimeException());
            }
        } catch (IllegalArgumentException e) {
            response.onError(
                    Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        } catch (RuntimeException | Error e) {
            log.error("patch request {} failed", job.id(), e);
            response.onError(Status.INTERNAL
                    .withDescription("request " + job.id() + " failed: " + e)
                    .asRuntimeException());
        }
    }
}
