package dev.patchbay.server.mapping;

import dev.patchbay.attribution.CircuitDiscovery;
import dev.patchbay.attribution.CircuitEvaluation;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.DiscoverCircuit;
import dev.patchbay.operations.EdgeRanking;
import dev.patchbay.operations.EvaluateCircuit;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.operations.Summary;
import dev.patchbay.proto.v1.CircuitEvent;
import dev.patchbay.proto.v1.CircuitPoint;
import dev.patchbay.proto.v1.DiscoverCircuitRequest;
import dev.patchbay.proto.v1.DiscoveryEvent;
import dev.patchbay.proto.v1.DiscoveryStep;
import dev.patchbay.proto.v1.EvaluateCircuitRequest;
import dev.patchbay.proto.v1.FoundCircuit;
import java.util.ArrayList;
import java.util.List;

/**
 * EvaluateCircuit and DiscoverCircuit: the requests to {@link EvaluateCircuit} and {@link DiscoverCircuit}, their
 * events back to the wire.
 */
public final class CircuitMapper {
    private CircuitMapper() {}

    public static Prepared<CircuitEvent> evaluate(Inputs in, EvaluateCircuitRequest r) throws RequestException {
        ServedModel model = in.model(r.getModel());
        List<PromptPair> pairs = in.pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        Ablation ablation = ablation(r.getAblation());
        List<EvaluateCircuit.Circuit> circuits = new ArrayList<>();
        for (int c = 0; c < r.getCircuitsCount(); c++) {
            var circuit = r.getCircuits(c);
            List<Edge> edges = new ArrayList<>();
            for (int e = 0; e < circuit.getEdgesCount(); e++) {
                try {
                    edges.add(Edge.parse(circuit.getEdges(e)));
                } catch (IllegalArgumentException ex) {
                    throw RequestException.invalid("circuits[" + c + "].edges[" + e + "]: " + ex.getMessage());
                }
            }
            circuits.add(new EvaluateCircuit.Circuit(
                    circuit.getName().isEmpty() ? "circuit " + c : circuit.getName(), edges));
        }
        EvaluateCircuit.Request request = new EvaluateCircuit.Request(
                pairs,
                ablation,
                r.getSeed(),
                circuits,
                new EdgeRanking(AttributeEdgesMapper.method(r.getRanking(), "ranking"), r.getIgSteps()),
                r.getSizesList().stream().mapToInt(Integer::intValue).toArray());
        EvaluateCircuit.Plan plan;
        try {
            plan = EvaluateCircuit.plan(request, model.serving());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        String metric = Inputs.metricText(model, pairs);
        return new Prepared<>(
                model,
                plan.method(),
                plan.points() + (plan.ranking() == null ? " circuits" : " prune-curve points"),
                pairs.size(),
                (runner, out) -> EvaluateCircuit.run(runner, plan, evaluationEvents(out, metric)));
    }

    public static Prepared<DiscoveryEvent> discover(Inputs in, DiscoverCircuitRequest r) throws RequestException {
        ServedModel model = in.model(r.getModel());
        List<PromptPair> pairs = in.pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        Ablation ablation = ablation(r.getAblation());
        DiscoverCircuit.Search search = switch (r.getSearch()) {
            case GREEDY -> DiscoverCircuit.Search.GREEDY;
            case DISCOVERY_SEARCH_UNSPECIFIED -> null;
            case ACDC -> DiscoverCircuit.Search.ACDC;
            default -> throw RequestException.invalid("search: unknown value " + r.getSearchValue());
        };
        DiscoverCircuit.Request request = new DiscoverCircuit.Request(
                pairs,
                ablation,
                r.getSeed(),
                search,
                new EdgeRanking(AttributeEdgesMapper.method(r.getRanking(), "ranking"), r.getIgSteps()),
                r.getTarget(),
                r.getThreshold());
        DiscoverCircuit.Plan plan;
        try {
            plan = DiscoverCircuit.plan(request, model.serving());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        String metric = Inputs.metricText(model, pairs);
        return new Prepared<>(
                model,
                plan.method(),
                "circuit",
                pairs.size(),
                (runner, out) -> DiscoverCircuit.run(runner, plan, discoveryEvents(out, metric)));
    }

    /** An ablation from the wire; unset is null, which the operations read as their default. */
    private static Ablation ablation(dev.patchbay.proto.v1.Ablation a) throws RequestException {
        return switch (a) {
            case RESAMPLE -> Ablation.RESAMPLE;
            case ABLATION_UNSPECIFIED -> null;
            case MEAN -> Ablation.MEAN;
            case ZERO -> Ablation.ZERO;
            case NOISE_PROMPT -> Ablation.NOISE_PROMPT;
            default -> throw RequestException.invalid("ablation: unknown value " + a);
        };
    }

    private static EvaluateCircuit.Events evaluationEvents(Prepared.Output<CircuitEvent> out, String metric) {
        return new EvaluateCircuit.Events() {
            @Override
            public void accepted(Accepted a) {
                out.send()
                        .accept(CircuitEvent.newBuilder()
                                .setAccepted(Events.accepted(out.requestId(), a, metric))
                                .build());
            }

            @Override
            public void point(EvaluateCircuit.Point point) {
                CircuitEvaluation.Faithfulness f = point.faithfulness();
                CircuitPoint.Builder p = CircuitPoint.newBuilder()
                        .setName(point.name())
                        .setSize(point.size())
                        .setFaithfulness(f.mean())
                        .setLow(f.low())
                        .setHigh(f.high());
                for (double v : f.perPair()) {
                    p.addPerPair(v);
                }
                out.send().accept(CircuitEvent.newBuilder().setPoint(p).build());
            }

            @Override
            public void progress(long done, long total) {
                out.send()
                        .accept(CircuitEvent.newBuilder()
                                .setProgress(Events.progress("evaluating", done, total))
                                .build());
            }

            @Override
            public void summary(Summary s) {
                out.passes().accept(Math.round(s.cost().forwardPasses()));
                out.send()
                        .accept(CircuitEvent.newBuilder()
                                .setSummary(Events.summary(s, metric))
                                .build());
            }
        };
    }

    private static DiscoverCircuit.Events discoveryEvents(Prepared.Output<DiscoveryEvent> out, String metric) {
        return new DiscoverCircuit.Events() {
            @Override
            public void accepted(Accepted a) {
                out.send()
                        .accept(DiscoveryEvent.newBuilder()
                                .setAccepted(Events.accepted(out.requestId(), a, metric))
                                .build());
            }

            @Override
            public void step(CircuitDiscovery.Step s) {
                out.send()
                        .accept(DiscoveryEvent.newBuilder()
                                .setStep(DiscoveryStep.newBuilder()
                                        .setStage(s.stage())
                                        .setEdge(
                                                s.edge() == null ? "" : s.edge().name())
                                        .setSize(s.size())
                                        .setFaithfulness(s.faithfulness())
                                        .setKept(s.kept()))
                                .build());
            }

            @Override
            public void found(CircuitDiscovery.Found found) {
                out.send()
                        .accept(DiscoveryEvent.newBuilder()
                                .setCircuit(FoundCircuit.newBuilder()
                                        .addAllEdges(found.edges().stream()
                                                .map(Edge::name)
                                                .toList())
                                        .setFaithfulness(found.faithfulness())
                                        .setForwardPasses(found.forwardPasses()))
                                .build());
            }

            @Override
            public void summary(Summary s) {
                out.passes().accept(Math.round(s.cost().forwardPasses()));
                out.send()
                        .accept(DiscoveryEvent.newBuilder()
                                .setSummary(Events.summary(s, metric))
                                .build());
            }
        };
    }
}
