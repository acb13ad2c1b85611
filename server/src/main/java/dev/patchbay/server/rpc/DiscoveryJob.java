package dev.patchbay.server.rpc;

import dev.patchbay.attribution.CircuitDiscovery;
import dev.patchbay.attribution.CircuitEvaluation;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.execution.Device;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.DiscoveryEvent;
import dev.patchbay.proto.v1.DiscoveryStep;
import dev.patchbay.proto.v1.FoundCircuit;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Locale;
import java.util.function.BooleanSupplier;

/** One DiscoverCircuit request on its own thread: the ranking (greedy), the search's checks streamed, the circuit. */
final class DiscoveryJob extends StreamingJob<DiscoveryEvent> {
    private final RequestParser.DiscoverCircuit request;
    private final AccessLog.Entry access;
    private final String method;

    DiscoveryJob(
            RequestParser.DiscoverCircuit request,
            Device.Job job,
            StreamObserver<DiscoveryEvent> call,
            BooleanSupplier serverStopping) {
        super(job, call, serverStopping);
        this.request = request;
        this.method = "discovery/"
                + (request.acdc()
                        ? "acdc"
                        : "greedy/" + request.ranking().method().id()) + "/"
                + request.ablation().name().toLowerCase(Locale.ROOT);
        this.access = AccessLog.current();
        access.request(job.id(), method, "circuit", request.pairs().size());
    }

    @Override
    void work() {
        long start = System.nanoTime();
        PassRunner runner = job.runner();
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
                EdgeResult ranked =
                        EdgeAttribution.run(runner, request.pairs(), request.ranking(), EdgeAttribution.Listener.NONE);
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
                        .setCacheHits(runner.tally().cacheHits())
                        .setCacheMisses(runner.tally().cacheMisses()))
                .build());
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
}
