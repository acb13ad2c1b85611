package dev.patchbay.operations;

import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.EdgeResult;
import dev.patchbay.attribution.diagnostic.EdgeVerification;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeBlock;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.List;

/**
 * Scores every edge (writer to reader) by an edge method, then (if asked) verifies the top edges by exact edge
 * patching and bounds the rest: the AttributeEdges use-case and {@code patchbay attribute --edges}.
 */
public final class AttributeEdges {
    /** The method when a request names none, by its short name: AtP* on edges. */
    public static final String DEFAULT_METHOD_ID = "atp-star";

    public static final EdgeAttribution.Method DEFAULT_METHOD = EdgeAttribution.Method.byId(DEFAULT_METHOD_ID);

    private AttributeEdges() {}

    /**
     * An edge attribution request; zeros and nulls take the defaults.
     *
     * @param method null takes {@link #DEFAULT_METHOD}
     * @param igSteps EAP-IG's interpolation steps; 0 takes the default
     * @param perPosition whether each edge is one position, or all positions at once
     * @param recomputeLayers run an estimate (EAP, EAP-IG, AtP*) with per-layer recomputation even where the plain
     *     pass fits (the plan chooses it by itself where the plain pass does not)
     */
    public record Request(
            List<PromptPair> pairs,
            EdgeAttribution.Method method,
            int igSteps,
            boolean perPosition,
            int verifyTopK,
            double verifyBudget,
            DiagnosticOptions diagnostic,
            boolean recomputeLayers) {
        public Request {
            pairs = List.copyOf(pairs);
            method = method == null ? DEFAULT_METHOD : method;
            diagnostic = diagnostic == null ? DiagnosticOptions.OFF : diagnostic;
        }

        /** A request the plan runs as it sees fit (per-layer recomputation only where the plain pass does not fit). */
        public Request(
                List<PromptPair> pairs,
                EdgeAttribution.Method method,
                int igSteps,
                boolean perPosition,
                int verifyTopK,
                double verifyBudget,
                DiagnosticOptions diagnostic) {
            this(pairs, method, igSteps, perPosition, verifyTopK, verifyBudget, diagnostic, false);
        }
    }

    /** A checked request: its settings (rows per pass fit the memory budget), counts and planned cost. */
    public record Plan(
            Request request,
            EdgeAttribution.Settings settings,
            int verify,
            long edgeCount,
            double plannedForwardPasses,
            FalseNegativeDiagnostic.Settings diagnostic,
            int patchRows,
            String variant) {
        /** The edge method's short name. */
        public String methodId() {
            return settings.method().id();
        }

        public Accepted accepted() {
            return new Accepted(edgeCount, "edges", plannedForwardPasses, methodId(), variant);
        }
    }

    /** What the operation tells as it runs, in order. */
    public interface Events {
        void accepted(Accepted accepted);

        void block(EdgeBlock block);

        void progress(String stage, long done, long total);

        void verified(EdgeVerification.Verified verified);

        void diagnostic(FalseNegativeDiagnostic.Report<Edge> report);

        void summary(Summary summary);
    }

    public static Plan plan(Request request, Serving on) {
        List<PromptPair> pairs = request.pairs();
        if (pairs.isEmpty()) {
            throw InvalidRequest.invalid("pairs: at least one prompt pair is needed");
        }
        EdgeAttribution.Method method = request.method();
        int steps = Checks.igSteps(request.igSteps());
        try {
            EdgeAttribution.validate(pairs, request.perPosition(), on.config());
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.invalid(e.getMessage());
        }
        if (method.estimate() != null && !method.estimate().integrated()) {
            Checks.gradientMetric(pairs, method.id());
        }
        int patchRows = Checks.patchRows(on, pairs);
        Checks.EdgePasses passes =
                Checks.edgePasses(on, pairs, method, steps, request.perPosition(), request.recomputeLayers());
        EdgeAttribution.Settings settings = new EdgeAttribution.Settings(
                method, request.perPosition(), steps, passes.rows(), patchRows, passes.recomputeLayers());
        EdgeGraph graph = new EdgeGraph(on.config());
        long count = EdgeAttribution.edgeCount(graph, pairs.get(0).length(), request.perPosition());
        long verify = Checks.verifyCount(request.verifyTopK(), request.verifyBudget(), count, pairs);
        double planned =
                EdgeAttribution.plannedPasses(graph, pairs, settings) + pairs.size() * (verify > 0 ? 2.0 + verify : 0);
        Checks.withinRuns(
                planned,
                "method: " + (long) Math.ceil(planned / pairs.size()) + " patched runs for each of " + pairs.size()
                        + " pairs exceed the server's limit of " + on.limits().maxPatchedRuns()
                        + "; use an estimate (EAP, EAP-IG, AtP*) and verify its top edges",
                on);
        FalseNegativeDiagnostic.Settings diagnostic =
                Checks.diagnostic(request.diagnostic(), verify, count, pairs, "edges", on);
        if (diagnostic != null) {
            planned += (double) diagnostic.samples() * pairs.size();
        }
        return new Plan(request, settings, (int) verify, count, planned, diagnostic, patchRows, passes.variant());
    }

    /** Runs a plan: the edge method, then verification of the top edges and the diagnostic over the rest. */
    public static EdgeResult run(PassRunner runner, Plan plan, Events events) {
        List<PromptPair> pairs = plan.request().pairs();
        events.accepted(plan.accepted());
        EdgeResult result = EdgeAttribution.run(runner, pairs, plan.settings(), new EdgeAttribution.Listener() {
            @Override
            public void onBlock(EdgeBlock block) {
                events.block(block);
            }

            @Override
            public void onProgress(long done, long total) {
                events.progress("scoring", done, total);
            }
        });
        Cost cost = result.cost();
        if (plan.verify() > 0) {
            List<EdgeResult.Scored> top = result.top(plan.verify());
            EdgeVerification.Result verified =
                    EdgeVerification.verify(runner, pairs, top, plan.patchRows(), (v, done, total) -> {
                        events.verified(v);
                        events.progress("verifying", done, total);
                    });
            cost = cost.plus(verified.cost());
            if (plan.diagnostic() != null) {
                FalseNegativeDiagnostic.Report<Edge> report = EdgeVerification.diagnose(
                        runner,
                        pairs,
                        result.edgesExcept(top),
                        plan.diagnostic(),
                        verified.largestEffect(),
                        plan.patchRows());
                events.diagnostic(report);
                cost = cost.plus(report.cost());
            }
        }
        events.summary(new Summary(
                result.method(),
                result.pairs(),
                result.cleanMetric(),
                result.noiseMetric(),
                cost,
                runner.tally(),
                plan.request().method().magnitudes(result.pairs())));
        return result;
    }
}
