package dev.patchbay.server.rpc;

import dev.patchbay.attribution.CircuitDiscovery;
import dev.patchbay.attribution.CircuitEvaluation;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.execution.Device;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.DiscoveryEvent;
import dev.patchbay.proto.v1.DiscoveryStep;
import dev.patchbay.proto.v1.FoundCircuit;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One DiscoverCircuit request on its own thread: the ranking (greedy), the search's checks streamed, the circuit. */
final class DiscoveryJob implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(DiscoveryJob.class);

    private final RequestParser.DiscoverCircuit request;
    private final Device.Job job;
    private final StreamObserver<DiscoveryEvent> call;
    private final BooleanSupplier serverStopping;
    private final AccessLog.Entry access;
    private final String method;

    DiscoveryJob(
            RequestParser.DiscoverCircuit request,
            Device.Job job,
            StreamObserver<DiscoveryEvent> call,
            BooleanSupplier serverStopping) {
        this.request = request;
        this.job = job;
        this.call = call;
        this.serverStopping = serverStopping;
        this.method = "discovery/"
                + (request.acdc()
                        ? "acdc"
                        : "greedy/" + request.ranking().method().id()) + "/"
                + request.ablation().name().toLowerCase(Locale.ROOT);
        this.access = AccessLog.current();
        access.request(job.id(), method, "circuit", request.pairs().size());
    }

    @Override
    public void run() {
        long start = System.nanoTime();
        try (job) {
            CountingRunner runner = new CountingRunner(job.runner());
            String metric = RequestParser.metricText(request.model(), request.pairs());
            send(DiscoveryEvent.newBuilder()
                    .setAccepted(Accepted.newBuilder()
                            .setRequestId(job.id())
                            .setMethod(method)
                            .setMetric(metric))
                    .build());
            double passes = 0;
            CircuitDiscovery.Found found;
            try (CircuitEvaluation eval = new CircuitEvaluation(
                    runner, request.pairs(), request.ablation(), request.seed(), request.patchRows())) {
                if (request.acdc()) {
                    found = CircuitDiscovery.acdc(
                            eval, new EdgeGraph(runner.model().config()), request.threshold(), this::step);
                } else {
                    EdgeResult ranked = EdgeAttribution.run(
                            runner, request.pairs(), request.ranking(), EdgeAttribution.Listener.NONE);
                    passes += ranked.cost().forwardPasses() / request.pairs().size();
                    List<Edge> order = ranked.top(ranked.size()).stream()
                            .map(EdgeResult.Scored::edge)
                            .toList();
                    found = CircuitDiscovery.greedy(eval, order, request.target(), this::step);
                }
            }
            passes += found.forwardPasses();
            send(DiscoveryEvent.newBuilder()
                    .setCircuit(FoundCircuit.newBuilder()
                            .addAllEdges(found.edges().stream().map(Edge::name).toList())
                            .setFaithfulness(found.faithfulness())
                            .setForwardPasses(found.forwardPasses()))
                    .build());
            access.passes(Math.round(passes * request.pairs().size()));
            send(DiscoveryEvent.newBuilder()
                    .setSummary(Summary.newBuilder()
                            .setMethod(method)
                            .setMetric(metric)
                            .setPairs(request.pairs().size())
                            .setForwardPasses(passes * request.pairs().size())
                            .setWallSeconds((System.nanoTime() - start) / 1e9)
                            .setCacheHits(runner.cacheHits())
                            .setCacheMisses(runner.cacheMisses()))
                    .build());
            synchronized (call) {
                call.onCompleted();
            }
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

    private void step(CircuitDiscovery.Step s) {
        send(DiscoveryEvent.newBuilder()
                .setStep(DiscoveryStep.newBuilder()
                        .setStage(s.stage())
                        .setEdge(s.edge() == null ? "" : s.edge().name())
                        .setSize(s.size())
                        .setFaithfulness(s.faithfulness())
                        .setKept(s.kept()))
                .build());
    }

    private void send(DiscoveryEvent event) {
        synchronized (call) {
            call.onNext(event);
        }
    }

    private void fail(Status status) {
        try {
            synchronized (call) {
                call.onError(status.asRuntimeException());
            }
        } catch (RuntimeException e) {
            log.debug("could not report the failure of {}: {}", job.id(), e.toString());
        }
    }
}
