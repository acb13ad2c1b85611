package dev.patchbay.server.rpc;

import dev.patchbay.attribution.CausalScrubbing;
import dev.patchbay.execution.Device;
import dev.patchbay.nodes.Edge;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.Progress;
import dev.patchbay.proto.v1.ScrubEvent;
import dev.patchbay.proto.v1.ScrubResult;
import dev.patchbay.proto.v1.ScrubSample;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.stub.StreamObserver;
import java.util.function.BooleanSupplier;

/** One Scrub request on its own thread: each sample streamed as its chunk of trees completes, then the result. */
final class ScrubJob extends StreamingJob<ScrubEvent> {
    private static final String METHOD = "causal-scrubbing";
    private final RequestParser.Scrub request;
    private final AccessLog.Entry access;

    ScrubJob(RequestParser.Scrub request, Device.Job job, StreamObserver<ScrubEvent> call, BooleanSupplier stopping) {
        super(job, call, stopping);
        this.request = request;
        this.access = AccessLog.current();
        access.request(
                job.id(),
                METHOD,
                request.samples() + " samples",
                request.pairs().size());
    }

    @Override
    void work() {
        long start = System.nanoTime();
        PassRunner runner = job.runner();
        String metric = RequestParser.metricText(request.model(), request.pairs());
        long runsPerSample = request.hypothesis().runsPerSample();
        send(ScrubEvent.newBuilder()
                .setAccepted(Accepted.newBuilder()
                        .setRequestId(job.id())
                        .setNodeCount(request.samples())
                        .setPlannedForwardPasses((double) request.samples() * runsPerSample
                                + request.pairs().size())
                        .setMethod(METHOD)
                        .setMetric(metric))
                .build());
        CausalScrubbing.Result result;
        try (CausalScrubbing scrubbing =
                new CausalScrubbing(runner, request.pairs(), request.hypothesis(), request.patchRows())) {
            int[] done = {0};
            result = scrubbing.run(request.samples(), request.seed(), s -> {
                send(ScrubEvent.newBuilder()
                        .setSample(ScrubSample.newBuilder()
                                .setIndex(s.index())
                                .setPair(s.pair())
                                .setOriginal(s.original())
                                .setScrubbed(s.scrubbed())
                                .setResampled(s.resampled()))
                        .build());
                if (++done[0] % 16 == 0 || done[0] == request.samples()) {
                    send(ScrubEvent.newBuilder()
                            .setProgress(Progress.newBuilder()
                                    .setStage("scrubbing")
                                    .setDone(done[0])
                                    .setTotal(request.samples()))
                            .build());
                }
            });
        }
        ScrubResult.Builder r = ScrubResult.newBuilder()
                .setRecovered(result.recovered())
                .setLow(result.low())
                .setHigh(result.high())
                .setOriginal(result.original())
                .setScrubbed(result.scrubbed())
                .setResampled(result.resampled())
                .setRunsPerSample(runsPerSample);
        for (Edge e : request.hypothesis().edges()) {
            r.addEdges(e.name());
        }
        send(ScrubEvent.newBuilder().setResult(r).build());
        // The cost in the paper's unit: each model run counts as a forward pass (a tree's inner nodes stop at their
        // writer's layer, so this overstates the compute).
        double passes = result.runs();
        access.passes(result.runs());
        send(ScrubEvent.newBuilder()
                .setSummary(Summary.newBuilder()
                        .setMethod(METHOD)
                        .setMetric(metric)
                        .setPairs(request.pairs().size())
                        .setCleanMetric(result.original())
                        .setForwardPasses(passes)
                        .setWallSeconds((System.nanoTime() - start) / 1e9)
                        .setCacheHits(runner.tally().cacheHits())
                        .setCacheMisses(runner.tally().cacheMisses()))
                .build());
    }
}
