package dev.patchbay.server.rpc;

import dev.patchbay.attribution.CircuitEvaluation;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.execution.Device;
import dev.patchbay.nodes.Edge;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.CircuitEvent;
import dev.patchbay.proto.v1.CircuitPoint;
import dev.patchbay.proto.v1.Progress;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * One EvaluateCircuit request on its own thread: for a prune curve, the edge ranking first; then each circuit's
 * faithfulness under the request's ablation, streamed as each chunk of circuits completes.
 */
final class CircuitJob extends StreamingJob<CircuitEvent> {
    private final RequestParser.EvaluateCircuit request;
    private final AccessLog.Entry access;

    CircuitJob(
            RequestParser.EvaluateCircuit request,
            Device.Job job,
            StreamObserver<CircuitEvent> call,
            BooleanSupplier serverStopping) {
        super(job, call, serverStopping);
        this.request = request;
        this.access = AccessLog.current();
        access.request(
                job.id(),
                "circuit/" + request.ablation().name().toLowerCase(java.util.Locale.ROOT),
                request.points() + (request.ranking() == null ? " circuits" : " prune-curve points"),
                request.pairs().size());
    }

    @Override
    void work() {
        long start = System.nanoTime();
        PassRunner runner = job.runner();
        String metric = RequestParser.metricText(request.model(), request.pairs());
        String method = "circuit/" + request.ablation().name().toLowerCase(java.util.Locale.ROOT);
        send(CircuitEvent.newBuilder()
                .setAccepted(Accepted.newBuilder()
                        .setRequestId(job.id())
                        .setNodeCount(request.points())
                        .setMethod(method)
                        .setMetric(metric))
                .build());
        double passes = 0;
        int[] done = {0};
        try (CircuitEvaluation eval = new CircuitEvaluation(
                runner, request.pairs(), request.ablation(), request.seed(), request.patchRows())) {
            if (request.ranking() != null) {
                EdgeResult ranked =
                        EdgeAttribution.run(runner, request.pairs(), request.ranking(), EdgeAttribution.Listener.NONE);
                passes += ranked.cost().forwardPasses();
                List<Edge> order = ranked.top(ranked.size()).stream()
                        .map(EdgeResult.Scored::edge)
                        .toList();
                eval.pruneCurve(order, request.sizes(), p -> {
                    send(point("top " + p.size(), p.size(), p.faithfulness()));
                    send(progress(++done[0], request.points()));
                });
            } else {
                for (int c = 0; c < request.circuits().size(); c++) {
                    CircuitEvaluation.Faithfulness f =
                            eval.faithfulness(request.circuits().get(c));
                    send(point(request.names().get(c), request.circuits().get(c).size(), f));
                    send(progress(++done[0], request.points()));
                }
            }
        }
        passes += (request.points() + 2.0) * request.pairs().size();
        access.passes(Math.round(passes));
        send(CircuitEvent.newBuilder()
                .setSummary(Summary.newBuilder()
                        .setMethod(method)
                        .setMetric(metric)
                        .setPairs(request.pairs().size())
                        .setForwardPasses(passes)
                        .setWallSeconds((System.nanoTime() - start) / 1e9)
                        .setCacheHits(runner.tally().cacheHits())
                        .setCacheMisses(runner.tally().cacheMisses()))
                .build());
    }

    private static CircuitEvent point(String name, int size, CircuitEvaluation.Faithfulness f) {
        CircuitPoint.Builder p = CircuitPoint.newBuilder()
                .setName(name)
                .setSize(size)
                .setFaithfulness(f.mean())
                .setLow(f.low())
                .setHigh(f.high());
        for (double v : f.perPair()) {
            p.addPerPair(v);
        }
        return CircuitEvent.newBuilder().setPoint(p).build();
    }

    private static CircuitEvent progress(long done, long total) {
        return CircuitEvent.newBuilder()
                .setProgress(Progress.newBuilder()
                        .setStage("evaluating")
                        .setDone(done)
                        .setTotal(total))
                .build();
    }
}
