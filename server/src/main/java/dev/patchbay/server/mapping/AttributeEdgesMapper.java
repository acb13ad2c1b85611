package dev.patchbay.server.mapping;

import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.diagnostic.EdgeVerification;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeBlock;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.AttributeEdges;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.operations.Summary;
import dev.patchbay.proto.v1.AttributeEdgesEvent;
import dev.patchbay.proto.v1.AttributeEdgesRequest;
import dev.patchbay.proto.v1.EdgeBound;
import dev.patchbay.proto.v1.EdgeDiagnostic;
import dev.patchbay.proto.v1.EdgeMethod;
import dev.patchbay.proto.v1.ValueEncoding;
import dev.patchbay.proto.v1.VerifiedEdge;
import java.util.List;

/** AttributeEdges: the request to {@link AttributeEdges}, its events back to the wire. */
public final class AttributeEdgesMapper {
    private AttributeEdgesMapper() {}

    public static Prepared<AttributeEdgesEvent> prepare(Inputs in, AttributeEdgesRequest r) throws RequestException {
        ServedModel model = in.model(r.getModel());
        List<PromptPair> pairs = in.pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        AttributeEdges.Request request = new AttributeEdges.Request(
                pairs,
                method(r.getMethod(), "method"),
                r.getIgSteps(),
                r.getPerPosition(),
                r.getVerifyTopK(),
                r.getVerifyBudget(),
                AttributeMapper.diagnostic(r.getDiagnostic()),
                r.getRecomputeLayers());
        AttributeEdges.Plan plan;
        try {
            plan = AttributeEdges.plan(request, model.serving());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        String metric = Inputs.metricText(model, pairs);
        int heads = model.config().nHeads();
        return new Prepared<>(
                model,
                "edges/" + plan.methodId(),
                plan.edgeCount() + " edges" + (r.getPerPosition() ? " per position" : ""),
                pairs.size(),
                (runner, out) -> AttributeEdges.run(
                        runner,
                        plan,
                        events(
                                out,
                                metric,
                                heads,
                                Protos.encoding(
                                        r.getPackedValues(), model.device().dtype()))));
    }

    /** An edge method from the wire; unset is null, which the operation reads as its default. */
    static EdgeAttribution.Method method(EdgeMethod m, String field) throws RequestException {
        return switch (m) {
            case EXACT_EDGE_PATCHING -> EdgeAttribution.Method.EXACT;
            case EAP -> EdgeAttribution.Method.EAP;
            case EAP_IG -> EdgeAttribution.Method.EAP_IG;
            case EDGE_ATP_STAR -> EdgeAttribution.Method.ATP_STAR;
            case EDGE_METHOD_UNSPECIFIED -> null;
            default -> throw RequestException.invalid(field + ": unknown value " + m);
        };
    }

    private static AttributeEdges.Events events(
            Prepared.Output<AttributeEdgesEvent> out, String metric, int heads, ValueEncoding encoding) {
        return new AttributeEdges.Events() {
            @Override
            public void accepted(Accepted a) {
                out.send()
                        .accept(AttributeEdgesEvent.newBuilder()
                                .setAccepted(Events.accepted(out.requestId(), a, metric))
                                .build());
            }

            @Override
            public void block(EdgeBlock block) {
                out.send()
                        .accept(AttributeEdgesEvent.newBuilder()
                                .setBlock(Protos.edgeBlock(block, heads, encoding))
                                .build());
            }

            @Override
            public void progress(String stage, long done, long total) {
                out.send()
                        .accept(AttributeEdgesEvent.newBuilder()
                                .setProgress(Events.progress(stage, done, total))
                                .build());
            }

            @Override
            public void verified(EdgeVerification.Verified v) {
                out.send()
                        .accept(AttributeEdgesEvent.newBuilder()
                                .setVerified(VerifiedEdge.newBuilder()
                                        .setRank(v.rank())
                                        .setEdge(Protos.edge(v.edge()))
                                        .setEstimate(v.estimate())
                                        .setEffect(v.effect()))
                                .build());
            }

            @Override
            public void diagnostic(FalseNegativeDiagnostic.Report<Edge> report) {
                EdgeDiagnostic.Builder d = EdgeDiagnostic.newBuilder()
                        .setEdges(report.nodes())
                        .setMaxUpperBound(report.maxUpperBound())
                        .setThreshold(report.threshold())
                        .setAlpha(report.alpha())
                        .setExpectedMissed(report.expectedMissed())
                        .setForwardPasses(report.cost().forwardPasses());
                for (FalseNegativeDiagnostic.Bound<Edge> b : report.flagged()) {
                    d.addFlagged(EdgeBound.newBuilder()
                            .setEdge(Protos.edge(b.item()))
                            .setDifference(b.difference())
                            .setStandardError(b.standardError())
                            .setUpperBound(b.upperBound())
                            .setMissProbability(b.missProbability()));
                }
                out.send()
                        .accept(AttributeEdgesEvent.newBuilder()
                                .setDiagnostic(d)
                                .build());
            }

            @Override
            public void summary(Summary s) {
                out.passes().accept(Math.round(s.cost().forwardPasses()));
                out.send()
                        .accept(AttributeEdgesEvent.newBuilder()
                                .setSummary(Events.summary(s, metric))
                                .build());
            }
        };
    }
}
