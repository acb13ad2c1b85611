package dev.patchbay.server.rpc;

import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.attribution.diagnostic.EdgeVerification;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.execution.Device;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeBlock;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.AttributeEdgesEvent;
import dev.patchbay.proto.v1.EdgeBound;
import dev.patchbay.proto.v1.EdgeDiagnostic;
import dev.patchbay.proto.v1.Progress;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.proto.v1.VerifiedEdge;
import dev.patchbay.server.mapping.Protos;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * One AttributeEdges request, run on its own thread: the edge method (its passes queue on the model's device), then
 * verification of the top edges by exact edge patching in rank order and the diagnostic, streaming events as results
 * appear. The events and their order are Attribute's.
 */
final class AttributeEdgesJob extends StreamingJob<AttributeEdgesEvent> {
    private final RequestParser.AttributeEdges request;
    private final AccessLog.Entry access;

    AttributeEdgesJob(
            RequestParser.AttributeEdges request,
            Device.Job job,
            StreamObserver<AttributeEdgesEvent> call,
            BooleanSupplier serverStopping) {
        super(job, call, serverStopping);
        this.request = request;
        // Made on the call's handler thread, where the call's access-log entry is current.
        this.access = AccessLog.current();
        var s = request.settings();
        access.request(
                job.id(),
                "edges/" + s.method().id(),
                request.edgeCount() + " edges" + (s.perPosition() ? " per position" : ""),
                request.pairs().size());
    }

    @Override
    void work() {
        PassRunner runner = job.runner();
        String metric = RequestParser.metricText(request.model(), request.pairs());
        send(AttributeEdgesEvent.newBuilder()
                .setAccepted(Accepted.newBuilder()
                        .setRequestId(job.id())
                        .setNodeCount(request.edgeCount())
                        .setPlannedForwardPasses(request.plannedForwardPasses())
                        .setMethod(request.settings().method().id())
                        .setMetric(metric))
                .build());
        EdgeResult result =
                EdgeAttribution.run(runner, request.pairs(), request.settings(), new EdgeAttribution.Listener() {
                    @Override
                    public void onBlock(EdgeBlock block) {
                        send(AttributeEdgesEvent.newBuilder()
                                .setBlock(Protos.edgeBlock(
                                        block, request.model().config().nHeads()))
                                .build());
                    }

                    @Override
                    public void onProgress(long done, long total) {
                        send(progress("scoring", done, total));
                    }
                });
        Cost cost = result.cost();
        if (request.verifyTopK() > 0) {
            List<EdgeResult.Scored> top = result.top(request.verifyTopK());
            EdgeVerification.Result verified =
                    EdgeVerification.verify(runner, request.pairs(), top, request.patchRows(), (v, done, total) -> {
                        send(AttributeEdgesEvent.newBuilder()
                                .setVerified(VerifiedEdge.newBuilder()
                                        .setRank(v.rank())
                                        .setEdge(Protos.edge(v.edge()))
                                        .setEstimate(v.estimate())
                                        .setEffect(v.effect()))
                                .build());
                        send(progress("verifying", done, total));
                    });
            cost = cost.plus(verified.cost());
            if (request.diagnostic() != null) {
                cost = cost.plus(diagnose(runner, result.edgesExcept(top), verified.largestEffect()));
            }
        }
        access.passes(Math.round(cost.forwardPasses()));
        send(AttributeEdgesEvent.newBuilder()
                .setSummary(Summary.newBuilder()
                        .setMethod(result.method())
                        .setMetric(metric)
                        .setPairs(result.pairs())
                        .setCleanMetric(result.cleanMetric())
                        .setNoiseMetric(result.noiseMetric())
                        .setForwardPasses(cost.forwardPasses())
                        .setComputeForwardEquivalents(cost.computeEquivalents())
                        .setWallSeconds(cost.wallSeconds())
                        .setCacheHits(runner.tally().cacheHits())
                        .setCacheMisses(runner.tally().cacheMisses())
                        .setSharedBatches(runner.tally().sharedBatches()))
                .build());
    }

    /** Bounds the unverified edges' effects; the default threshold is a tenth of the largest verified effect. */
    private Cost diagnose(PassRunner runner, List<Edge> rest, double largestVerified) {
        FalseNegativeDiagnostic.Report<Edge> report = EdgeVerification.diagnose(
                runner, request.pairs(), rest, request.diagnostic(), largestVerified, request.patchRows());
        EdgeDiagnostic.Builder out = EdgeDiagnostic.newBuilder()
                .setEdges(report.nodes())
                .setMaxUpperBound(report.maxUpperBound())
                .setThreshold(report.threshold())
                .setAlpha(report.alpha())
                .setExpectedMissed(report.expectedMissed())
                .setForwardPasses(report.cost().forwardPasses());
        for (FalseNegativeDiagnostic.Bound<Edge> b : report.flagged()) {
            out.addFlagged(EdgeBound.newBuilder()
                    .setEdge(Protos.edge(b.item()))
                    .setDifference(b.difference())
                    .setStandardError(b.standardError())
                    .setUpperBound(b.upperBound())
                    .setMissProbability(b.missProbability()));
        }
        send(AttributeEdgesEvent.newBuilder().setDiagnostic(out).build());
        return report.cost();
    }

    private static AttributeEdgesEvent progress(String stage, long done, long total) {
        return AttributeEdgesEvent.newBuilder()
                .setProgress(Progress.newBuilder().setStage(stage).setDone(done).setTotal(total))
                .build();
    }
}
