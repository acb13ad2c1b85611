package dev.patchbay.server.mapping;

import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.features.FeatureEdges;
import dev.patchbay.features.FeatureEstimates;
import dev.patchbay.features.FeatureNode;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.AttributeFeatures;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.operations.Summary;
import dev.patchbay.proto.v1.AttributeFeaturesEvent;
import dev.patchbay.proto.v1.AttributeFeaturesRequest;
import dev.patchbay.proto.v1.FeatureBlock;
import dev.patchbay.proto.v1.FeatureBound;
import dev.patchbay.proto.v1.FeatureDiagnostic;
import dev.patchbay.proto.v1.FeatureEdge;
import dev.patchbay.proto.v1.FeatureEdgeBlock;
import dev.patchbay.proto.v1.FeatureMethod;
import dev.patchbay.proto.v1.VerifiedFeature;
import java.util.Arrays;
import java.util.List;

/** AttributeFeatures: the request to {@link AttributeFeatures}, its events back to the wire. */
public final class AttributeFeaturesMapper {
    private AttributeFeaturesMapper() {}

    public static Prepared<AttributeFeaturesEvent> prepare(Inputs in, AttributeFeaturesRequest r)
            throws RequestException {
        ServedModel model = in.model(r.getModel());
        List<PromptPair> pairs = in.pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        AttributeFeatures.Request request = new AttributeFeatures.Request(
                pairs,
                r.getDictionariesList(),
                method(r.getMethod()),
                r.getVerifyTopK(),
                AttributeMapper.diagnostic(r.getDiagnostic()),
                r.getIgSteps(),
                r.getEdgeNodes(),
                r.getVerifyEdges());
        AttributeFeatures.Plan plan;
        try {
            plan = AttributeFeatures.plan(
                    request, model.serving(), model.loaded().dictionaries());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        String metric = Inputs.metricText(model, pairs);
        return new Prepared<>(
                model,
                "features/" + request.methodId(),
                plan.nodeCount() + " feature nodes in " + plan.dictionaries().size() + " dictionaries",
                pairs.size(),
                (runner, out) -> AttributeFeatures.run(runner, plan, events(out, metric)));
    }

    private static String method(FeatureMethod m) throws RequestException {
        return switch (m) {
            case FEATURE_ATP -> "atp";
            case FEATURE_ATP_STAR -> "atp-star";
            case FEATURE_IG -> "ig";
            case FEATURE_METHOD_UNSPECIFIED -> null;
            default -> throw RequestException.invalid("method: unknown value " + m);
        };
    }

    static dev.patchbay.proto.v1.FeatureNode node(FeatureNode n) {
        return dev.patchbay.proto.v1.FeatureNode.newBuilder()
                .setLayer(n.layer())
                .setSite(n.site())
                .setFeature(n.feature())
                .setPosition(n.position())
                .setName(n.name())
                .build();
    }

    private static FeatureBlock toBlock(AttributeFeatures.Block b) {
        FeatureEstimates.Block block = b.block();
        return FeatureBlock.newBuilder()
                .setPair(b.pair())
                .setDictionary(b.dictionary())
                .setLayer(b.layer())
                .setSite(b.site())
                .addAllPositions(Arrays.stream(block.positions()).boxed().toList())
                .addAllFeatures(Arrays.stream(block.features()).boxed().toList())
                .addAllEstimates(Arrays.stream(block.estimates()).boxed().toList())
                .addAllErrors(Arrays.stream(block.errors()).boxed().toList())
                .build();
    }

    private static AttributeFeatures.Events events(Prepared.Output<AttributeFeaturesEvent> out, String metric) {
        return new AttributeFeatures.Events() {
            @Override
            public void accepted(Accepted a) {
                out.send()
                        .accept(AttributeFeaturesEvent.newBuilder()
                                .setAccepted(Events.accepted(out.requestId(), a, metric))
                                .build());
            }

            @Override
            public void block(AttributeFeatures.Block b) {
                out.send()
                        .accept(AttributeFeaturesEvent.newBuilder()
                                .setBlock(toBlock(b))
                                .build());
            }

            @Override
            public void progress(String stage, long done, long total) {
                out.send()
                        .accept(AttributeFeaturesEvent.newBuilder()
                                .setProgress(Events.progress(stage, done, total))
                                .build());
            }

            @Override
            public void verified(AttributeFeatures.Verified v) {
                out.send()
                        .accept(AttributeFeaturesEvent.newBuilder()
                                .setVerified(VerifiedFeature.newBuilder()
                                        .setRank(v.rank())
                                        .setDictionary(v.dictionary())
                                        .setNode(node(v.node()))
                                        .setEstimate(v.estimate())
                                        .setEffect(v.effect()))
                                .build());
            }

            @Override
            public void diagnostic(AttributeFeatures.Diagnostic diagnostic) {
                FalseNegativeDiagnostic.Report<FeatureNode> report = diagnostic.report();
                FeatureDiagnostic.Builder d = FeatureDiagnostic.newBuilder()
                        .setDictionary(diagnostic.dictionary())
                        .setNodes(report.nodes())
                        .setMaxUpperBound(report.maxUpperBound())
                        .setThreshold(report.threshold())
                        .setAlpha(report.alpha())
                        .setExpectedMissed(report.expectedMissed())
                        .setForwardPasses(report.cost().forwardPasses());
                for (FalseNegativeDiagnostic.Bound<FeatureNode> b : report.flagged()) {
                    d.addFlagged(FeatureBound.newBuilder()
                            .setNode(node(b.item()))
                            .setDifference(b.difference())
                            .setStandardError(b.standardError())
                            .setUpperBound(b.upperBound())
                            .setMissProbability(b.missProbability()));
                }
                out.send()
                        .accept(AttributeFeaturesEvent.newBuilder()
                                .setDiagnostic(d)
                                .build());
            }

            @Override
            public void edges(AttributeFeatures.EdgeBlock block) {
                FeatureEdgeBlock.Builder b = FeatureEdgeBlock.newBuilder()
                        .setPair(block.pair())
                        .setUpstream(block.edges().upstreamDictionary())
                        .setDownstream(block.edges().downstreamDictionary());
                block.edges().downstream().forEach(n -> b.addDownstreamNodes(node(n)));
                List<FeatureEdges.Edge> edges = block.edges().edges();
                for (int i = 0; i < edges.size(); i++) {
                    FeatureEdges.Edge e = edges.get(i);
                    double effect = block.effects()[i];
                    FeatureEdge.Builder edge = FeatureEdge.newBuilder()
                            .setFrom(node(e.from()))
                            .setTo(node(e.to()))
                            .setEstimate(e.estimate())
                            .setName(e.name());
                    if (!Double.isNaN(effect)) {
                        edge.setVerified(true).setEffect(effect);
                    }
                    b.addEdges(edge);
                }
                out.send()
                        .accept(AttributeFeaturesEvent.newBuilder().setEdges(b).build());
            }

            @Override
            public void summary(Summary s) {
                out.passes().accept(Math.round(s.cost().forwardPasses()));
                out.send()
                        .accept(AttributeFeaturesEvent.newBuilder()
                                .setSummary(Events.summary(s, metric))
                                .build());
            }
        };
    }
}
