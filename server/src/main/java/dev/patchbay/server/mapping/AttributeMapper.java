package dev.patchbay.server.mapping;

import dev.patchbay.attribution.catalog.Methods;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.attribution.diagnostic.Verification;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.AttributeNodes;
import dev.patchbay.operations.DiagnosticOptions;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.Diagnostic;
import dev.patchbay.proto.v1.NodeBound;
import dev.patchbay.proto.v1.ValueEncoding;
import dev.patchbay.proto.v1.VerifiedNode;
import java.util.List;

/** Attribute (and a Sweep's jobs): the request to {@link AttributeNodes}, its events back to the wire. */
public final class AttributeMapper {
    private AttributeMapper() {}

    public static Prepared<AttributeEvent> prepare(Inputs in, AttributeRequest r) throws RequestException {
        ServedModel model = in.model(r.getModel());
        List<PromptPair> pairs = in.pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        NodeSet nodes = Inputs.nodes(r, model.config(), pairs);
        String method = switch (r.getMethod()) {
            case ACTIVATION_PATCHING -> "ap";
            case ATP -> "atp";
            case ATP_QK -> "atp-qk";
            case ATP_STAR -> "atp-star";
            case METHOD_UNSPECIFIED -> null;
            case ITERATIVE -> "iterative";
            case SUBSAMPLING -> "subsampling";
            case BLOCKS -> "blocks";
            case HIERARCHICAL -> "hierarchical";
            default -> throw RequestException.invalid("method: unknown value " + r.getMethodValue());
        };
        var b = r.getBaseline();
        AttributeNodes.Request request = new AttributeNodes.Request(
                pairs,
                nodes,
                method,
                new Methods.BaselineSettings(
                        b.getSeed(),
                        b.getSamples(),
                        b.getInclusionProbability(),
                        b.getBlockSize(),
                        b.getBranching(),
                        b.getMaxGroupPatches()),
                r.getVerifyTopK(),
                r.getVerifyBudget(),
                diagnostic(r.getDiagnostic()),
                r.getRecomputeLayers());
        AttributeNodes.Plan plan;
        try {
            plan = AttributeNodes.plan(request, model.serving());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        String metric = Inputs.metricText(model, pairs);
        return new Prepared<>(
                model,
                plan.methodId(),
                nodes.toString(),
                pairs.size(),
                (runner, out) -> AttributeNodes.run(
                        runner,
                        plan,
                        events(
                                out,
                                metric,
                                Protos.encoding(
                                        r.getPackedValues(), model.device().dtype()))));
    }

    /** The diagnostic's options as the engine takes them (zeros take its defaults). */
    static DiagnosticOptions diagnostic(dev.patchbay.proto.v1.DiagnosticOptions d) {
        return new DiagnosticOptions(
                d.getEnabled(),
                d.getSamples(),
                d.getInclusionProbability(),
                d.getAlpha(),
                d.getThreshold(),
                d.getSeed());
    }

    private static AttributeNodes.Events events(
            Prepared.Output<AttributeEvent> out, String metric, ValueEncoding encoding) {
        return new AttributeNodes.Events() {
            @Override
            public void accepted(dev.patchbay.operations.Accepted a) {
                out.send()
                        .accept(AttributeEvent.newBuilder()
                                .setAccepted(Events.accepted(out.requestId(), a, metric))
                                .build());
            }

            @Override
            public void block(EffectBlock block) {
                out.send()
                        .accept(AttributeEvent.newBuilder()
                                .setBlock(Protos.block(block, encoding))
                                .build());
            }

            @Override
            public void progress(String stage, long done, long total) {
                out.send()
                        .accept(AttributeEvent.newBuilder()
                                .setProgress(Events.progress(stage, done, total))
                                .build());
            }

            @Override
            public void verified(Verification.Verified v) {
                out.send()
                        .accept(AttributeEvent.newBuilder()
                                .setVerified(VerifiedNode.newBuilder()
                                        .setRank(v.rank())
                                        .setNode(Protos.node(v.node()))
                                        .setEstimate(v.estimate())
                                        .setEffect(v.effect()))
                                .build());
            }

            @Override
            public void diagnostic(FalseNegativeDiagnostic.Report<Node> report) {
                Diagnostic.Builder d = Diagnostic.newBuilder()
                        .setNodes(report.nodes())
                        .setMaxUpperBound(report.maxUpperBound())
                        .setThreshold(report.threshold())
                        .setAlpha(report.alpha())
                        .setExpectedMissed(report.expectedMissed())
                        .setForwardPasses(report.cost().forwardPasses());
                for (FalseNegativeDiagnostic.Bound<Node> bound : report.flagged()) {
                    d.addFlagged(NodeBound.newBuilder()
                            .setNode(Protos.node(bound.item()))
                            .setDifference(bound.difference())
                            .setStandardError(bound.standardError())
                            .setUpperBound(bound.upperBound())
                            .setMissProbability(bound.missProbability()));
                }
                out.send().accept(AttributeEvent.newBuilder().setDiagnostic(d).build());
            }

            @Override
            public void summary(dev.patchbay.operations.Summary s) {
                out.passes().accept(Math.round(s.cost().forwardPasses()));
                out.send()
                        .accept(AttributeEvent.newBuilder()
                                .setSummary(Events.summary(s, metric))
                                .build());
            }
        };
    }
}
