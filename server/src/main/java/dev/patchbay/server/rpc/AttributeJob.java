package dev.patchbay.server.rpc;

import dev.patchbay.attribution.AttributionListener;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.attribution.diagnostic.Verification;
import dev.patchbay.execution.Device;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.Diagnostic;
import dev.patchbay.proto.v1.NodeBound;
import dev.patchbay.proto.v1.Progress;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.proto.v1.VerifiedNode;
import dev.patchbay.server.mapping.Protos;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Attribute request, run on its own thread: the method's orchestration (its passes queue on the model's
 * device), then verification of the top nodes in rank order, streaming events as results appear.
 */
final class AttributeJob implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(AttributeJob.class);

    private final RequestParser.Attribute request;
    private final Device.Job job;
    private final EventSink sink;
    private final int verifyChunk;
    private final BooleanSupplier serverStopping;
    private final AccessLog.Entry access;

    AttributeJob(RequestParser.Attribute request, Device.Job job, EventSink sink, BooleanSupplier serverStopping) {
        this.request = request;
        this.job = job;
        this.sink = sink;
        this.serverStopping = serverStopping;
        // Made on the call's handler thread, where the call's access-log entry is current.
        this.access = AccessLog.current();
        access.request(
                job.id(),
                request.method().id(),
                request.nodes().toString(),
                request.pairs().size());
        this.verifyChunk = request.patchRows();
    }

    @Override
    public void run() {
        try (job) {
            PassRunner runner = job.runner();
            sink.send(AttributeEvent.newBuilder()
                    .setAccepted(Accepted.newBuilder()
                            .setRequestId(job.id())
                            .setNodeCount(request.nodeCount())
                            .setPlannedForwardPasses(request.plannedForwardPasses())
                            .setMethod(request.method().id())
                            .setMetric(RequestParser.metricText(request.model(), request.pairs())))
                    .build());
            AttributionResult result = request.method()
                    .run(runner, request.pairs(), request.nodes(), new AttributionListener() {
                        @Override
                        public void onBlock(EffectBlock block) {
                            sink.send(AttributeEvent.newBuilder()
                                    .setBlock(Protos.block(block))
                                    .build());
                        }

                        @Override
                        public void onProgress(long done, long total) {
                            sink.send(progress("scoring", done, total));
                        }
                    });
            Cost cost = result.cost();
            if (request.verifyTopK() > 0) {
                // Only the nodes to verify are ranked: a selection, never a sort of every node.
                List<AttributionResult.Scored> top = result.top(request.verifyTopK());
                Verification.Result verified =
                        Verification.verify(runner, request.pairs(), top, verifyChunk, (v, done, total) -> {
                            sink.send(AttributeEvent.newBuilder()
                                    .setVerified(VerifiedNode.newBuilder()
                                            .setRank(v.rank())
                                            .setNode(Protos.node(v.node()))
                                            .setEstimate(v.estimate())
                                            .setEffect(v.effect()))
                                    .build());
                            sink.send(progress("verifying", done, total));
                        });
                cost = cost.plus(verified.cost());
                if (request.diagnostic() != null) {
                    cost = cost.plus(diagnose(runner, result.nodesExcept(top), verified.largestEffect()));
                }
            }
            access.passes(Math.round(cost.forwardPasses()));
            sink.send(AttributeEvent.newBuilder()
                    .setSummary(Summary.newBuilder()
                            .setMethod(result.method())
                            .setMetric(RequestParser.metricText(request.model(), request.pairs()))
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
            sink.complete();
        } catch (CancellationException e) {
            log.info("request {} cancelled", job.id());
            if (serverStopping.getAsBoolean()) {
                fail(PatchbayService.stoppingStatus());
            }
        } catch (IllegalArgumentException e) {
            fail(Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
        } catch (io.grpc.StatusRuntimeException e) {
            log.info("request {} ended: {}", job.id(), e.getStatus());
        } catch (RuntimeException | Error e) {
            log.error("request {} failed", job.id(), e);
            fail(Status.INTERNAL.withDescription("request " + job.id() + " failed: " + e));
        }
    }

    /** Bounds the unverified nodes' effects; the default threshold is a tenth of the largest verified effect. */
    private Cost diagnose(PassRunner runner, List<Node> rest, double largestVerified) {
        FalseNegativeDiagnostic.Report<Node> report = Verification.diagnose(
                runner, request.pairs(), rest, request.diagnostic(), largestVerified, verifyChunk);
        Diagnostic.Builder out = Diagnostic.newBuilder()
                .setNodes(report.nodes())
                .setMaxUpperBound(report.maxUpperBound())
                .setThreshold(report.threshold())
                .setAlpha(report.alpha())
                .setExpectedMissed(report.expectedMissed())
                .setForwardPasses(report.cost().forwardPasses());
        for (FalseNegativeDiagnostic.Bound<Node> b : report.flagged()) {
            out.addFlagged(NodeBound.newBuilder()
                    .setNode(Protos.node(b.item()))
                    .setDifference(b.difference())
                    .setStandardError(b.standardError())
                    .setUpperBound(b.upperBound())
                    .setMissProbability(b.missProbability()));
        }
        sink.send(AttributeEvent.newBuilder().setDiagnostic(out).build());
        return report.cost();
    }

    private static AttributeEvent progress(String stage, long done, long total) {
        return AttributeEvent.newBuilder()
                .setProgress(Progress.newBuilder().setStage(stage).setDone(done).setTotal(total))
                .build();
    }

    private void fail(Status status) {
        try {
            sink.fail(status);
        } catch (RuntimeException e) {
            log.debug("could not report the failure of {}: {}", job.id(), e.toString());
        }
    }
}
