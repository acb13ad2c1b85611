package dev.patchbay.server.mapping;

import dev.patchbay.attribution.CausalScrubbing;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.operations.Scrub;
import dev.patchbay.operations.Summary;
import dev.patchbay.proto.v1.ScrubClaim;
import dev.patchbay.proto.v1.ScrubEvent;
import dev.patchbay.proto.v1.ScrubRequest;
import dev.patchbay.proto.v1.ScrubResult;
import dev.patchbay.proto.v1.ScrubSample;
import java.util.ArrayList;
import java.util.List;

/** Scrub: the request to {@link Scrub}, its events back to the wire. */
public final class ScrubMapper {
    private ScrubMapper() {}

    public static Prepared<ScrubEvent> prepare(Inputs in, ScrubRequest r) throws RequestException {
        ServedModel model = in.model(r.getModel());
        List<dev.patchbay.proto.v1.PromptPair> given = new ArrayList<>();
        for (dev.patchbay.proto.v1.PromptPair p : r.getPairsList()) {
            // Scrubbing reads only the clean prompts: a pair may leave its noise prompt out.
            given.add(p.hasNoise() ? p : p.toBuilder().setNoise(p.getClean()).build());
        }
        List<PromptPair> pairs = in.pairs(model, given, r.getMetric(), r.getAllowUnknownTokens());
        List<CausalScrubbing.Claim> claims = new ArrayList<>();
        for (ScrubClaim c : r.getClaimsList()) {
            claims.add(new CausalScrubbing.Claim(c.getPart(), c.getLabelsList()));
        }
        Scrub.Plan plan;
        try {
            plan = Scrub.plan(new Scrub.Request(pairs, claims, r.getSamples(), r.getSeed()), model.serving());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        String metric = Inputs.metricText(model, pairs);
        return new Prepared<>(
                model,
                Scrub.METHOD,
                plan.samples() + " samples",
                pairs.size(),
                (runner, out) -> Scrub.run(runner, plan, events(out, metric, plan)));
    }

    private static Scrub.Events events(Prepared.Output<ScrubEvent> out, String metric, Scrub.Plan plan) {
        return new Scrub.Events() {
            @Override
            public void accepted(Accepted a) {
                out.send()
                        .accept(ScrubEvent.newBuilder()
                                .setAccepted(Events.accepted(out.requestId(), a, metric))
                                .build());
            }

            @Override
            public void sample(CausalScrubbing.Sample s) {
                out.send()
                        .accept(ScrubEvent.newBuilder()
                                .setSample(ScrubSample.newBuilder()
                                        .setIndex(s.index())
                                        .setPair(s.pair())
                                        .setOriginal(s.original())
                                        .setScrubbed(s.scrubbed())
                                        .setResampled(s.resampled()))
                                .build());
            }

            @Override
            public void progress(long done, long total) {
                out.send()
                        .accept(ScrubEvent.newBuilder()
                                .setProgress(Events.progress("scrubbing", done, total))
                                .build());
            }

            @Override
            public void result(CausalScrubbing.Result result) {
                ScrubResult.Builder r = ScrubResult.newBuilder()
                        .setRecovered(result.recovered())
                        .setLow(result.low())
                        .setHigh(result.high())
                        .setOriginal(result.original())
                        .setScrubbed(result.scrubbed())
                        .setResampled(result.resampled())
                        .setRunsPerSample(plan.hypothesis().runsPerSample());
                for (Edge e : plan.hypothesis().edges()) {
                    r.addEdges(e.name());
                }
                out.send().accept(ScrubEvent.newBuilder().setResult(r).build());
            }

            @Override
            public void summary(Summary s) {
                out.passes().accept(Math.round(s.cost().forwardPasses()));
                out.send()
                        .accept(ScrubEvent.newBuilder()
                                .setSummary(Events.summary(s, metric))
                                .build());
            }
        };
    }
}
