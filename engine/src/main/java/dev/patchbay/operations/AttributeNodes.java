package dev.patchbay.operations;

import dev.patchbay.attribution.AttributionListener;
import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.catalog.Methods;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.attribution.diagnostic.Verification;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.passes.Recomputation;
import java.util.List;
import java.util.Locale;

/**
 * Scores every node of a set by an attribution method, then (if asked) verifies the top nodes by activation
 * patching in rank order and bounds the effects of the rest (the false-negative diagnostic): the Attribute use-case,
 * one request of a Sweep, and {@code patchbay attribute}.
 */
public final class AttributeNodes {
    /** The method when a request names none. */
    public static final String DEFAULT_METHOD = "atp-star";

    private AttributeNodes() {}

    /**
     * An attribution request in the engine's terms; zeros and nulls take the defaults.
     *
     * @param method a method's short name ({@link Methods#IDS}); null takes {@link #DEFAULT_METHOD}
     * @param verifyTopK nodes to verify by activation patching, largest |estimate| first; 0 for none
     * @param verifyBudget the most forward passes verification may take over all pairs; 0 for no cap
     * @param recomputeLayers run the AtP family (AtP, AtP with the QK fix, AtP*) with per-layer recomputation even
     *     where the plain pass fits (the plan chooses it by itself where the plain pass does not)
     */
    public record Request(
            List<PromptPair> pairs,
            NodeSet nodes,
            String method,
            Methods.BaselineSettings baseline,
            int verifyTopK,
            double verifyBudget,
            DiagnosticOptions diagnostic,
            boolean recomputeLayers) {
        public Request {
            pairs = List.copyOf(pairs);
            baseline = baseline == null ? Methods.BaselineSettings.DEFAULTS : baseline;
            diagnostic = diagnostic == null ? DiagnosticOptions.OFF : diagnostic;
        }

        /** A request the plan runs as it sees fit (per-layer recomputation only where the plain pass does not fit). */
        public Request(
                List<PromptPair> pairs,
                NodeSet nodes,
                String method,
                Methods.BaselineSettings baseline,
                int verifyTopK,
                double verifyBudget,
                DiagnosticOptions diagnostic) {
            this(pairs, nodes, method, baseline, verifyTopK, verifyBudget, diagnostic, false);
        }

        /** The method's short name, the default where the request names none. */
        public String methodId() {
            return method == null || method.isEmpty() ? DEFAULT_METHOD : method;
        }
    }

    /**
     * A checked request and how it runs.
     *
     * @param verify nodes verification patches
     * @param nodeCount the nodes the method scores
     * @param plannedForwardPasses the method's planned cost plus its verification and diagnostic
     * @param diagnostic the diagnostic's settings, null when it is off
     * @param patchRows patched runs per batch, sized to the memory budget (verification uses it too)
     * @param variant how the method runs where the plan chose (see {@link Accepted#variant()}); empty for plain
     */
    public record Plan(
            Request request,
            AttributionMethod method,
            int verify,
            long nodeCount,
            double plannedForwardPasses,
            FalseNegativeDiagnostic.Settings diagnostic,
            int patchRows,
            String variant) {
        /** The method's short name. */
        public String methodId() {
            return method.id();
        }

        public Accepted accepted() {
            return new Accepted(nodeCount, "nodes", plannedForwardPasses, methodId(), variant);
        }
    }

    /** What the operation tells as it runs, in order. */
    public interface Events {
        void accepted(Accepted accepted);

        void block(EffectBlock block);

        /** Work done of {@code total} in the stage's own unit ("scoring", then "verifying"). */
        void progress(String stage, long done, long total);

        void verified(Verification.Verified verified);

        void diagnostic(FalseNegativeDiagnostic.Report<Node> report);

        void summary(Summary summary);
    }

    /** Checks {@code request} against the model, its budget and the limits; refuses with the field at fault. */
    public static Plan plan(Request request, Serving on) {
        List<PromptPair> pairs = request.pairs();
        if (pairs.isEmpty()) {
            throw InvalidRequest.invalid("pairs: at least one prompt pair is needed");
        }
        String id = request.methodId();
        if (!Methods.IDS.contains(id)) {
            throw InvalidRequest.invalid("method: unknown '" + id + "'; known are " + Methods.IDS);
        }
        if (id.startsWith("atp")) {
            Checks.gradientMetric(pairs, id);
        }
        NodeSet nodes = request.nodes();
        Methods.BaselineSettings b = request.baseline();
        Checks.finite(b.inclusionProbability(), "baseline.inclusion_probability");
        if (b.samples() < 0
                || b.blockSize() < 0
                || b.branching() < 0
                || b.maxGroupPatches() < 0
                || b.inclusionProbability() < 0
                || b.inclusionProbability() >= 1
                || b.branching() == 1
                || b.samples() == 1) {
            throw InvalidRequest.invalid("baseline: samples >= 2, 0 < inclusion_probability < 1, block_size >= 1,"
                    + " branching >= 2 and max_group_patches >= 0 (zero takes the default)");
        }
        int patchRows = Checks.patchRows(on, pairs);
        boolean qkFix = (id.equals("atp-qk") || id.equals("atp-star")) && nodes.hasQueriesOrKeys();
        boolean gradDrop = id.equals("atp-star");
        boolean recompute = recomputesLayers(request, on, qkFix, gradDrop);
        // GradDrop reads a layer's QK-fix tables once per variant: recomputed, they are kept where they fit.
        boolean keepTables = recompute
                && qkFix
                && gradDrop
                && on.budget()
                                .layerwiseGradientRowsFitting(
                                        pairs.get(0).length(), true, true, nodes.perPosition(), true)
                        >= 1;
        Recomputation recomputation = !recompute
                ? Recomputation.NONE
                : keepTables ? Recomputation.PER_LAYER_KEEPING_QK_TABLES : Recomputation.PER_LAYER;
        int gradientRows;
        if (recompute) {
            gradientRows =
                    Checks.layerwiseGradientRows(on, pairs, id, qkFix, gradDrop, nodes.perPosition(), keepTables);
        } else if (id.startsWith("atp")) {
            gradientRows = Checks.gradientRows(on, pairs, id, qkFix, gradDrop);
        } else {
            gradientRows = on.limits().batchRows();
        }
        AttributionMethod method = Methods.byId(id, patchRows, gradientRows, b, recomputation);
        long count = nodes.count(on.config(), pairs.get(0).length());
        if (id.equals("subsampling") && b.inclusionProbability() > 0) {
            Checks.inclusion(count, b.inclusionProbability(), "baseline.inclusion_probability");
        }
        long verify = Checks.verifyCount(request.verifyTopK(), request.verifyBudget(), count, pairs);
        // Verification patches each verified node once per pair, after each pair's clean and noise runs.
        double planned =
                method.plannedForwardPasses(on.model(), pairs, nodes) + pairs.size() * (verify > 0 ? 2.0 + verify : 0);
        Checks.withinRuns(
                planned,
                "nodes: " + (long) Math.ceil(planned / pairs.size()) + " patched runs for each of " + pairs.size()
                        + " pairs exceed the server's limit of " + on.limits().maxPatchedRuns()
                        + "; choose fewer nodes or use an AtP method",
                on);
        FalseNegativeDiagnostic.Settings diagnostic =
                Checks.diagnostic(request.diagnostic(), verify, count, pairs, "nodes", on);
        if (diagnostic != null) {
            // The plan includes the diagnostic's patched runs, one per sample and pair.
            planned += (double) diagnostic.samples() * pairs.size();
        }
        return new Plan(
                request,
                method,
                (int) verify,
                count,
                planned,
                diagnostic,
                patchRows,
                recompute ? recomputation(request, on, qkFix, gradDrop, keepTables) : "");
    }

    /**
     * Whether the AtP family runs with per-layer recomputation: where the request asks, or where one pair of the plain
     * pass would not fit the memory budget and a recomputed one holds less (a shallow model's short prompt may hold
     * more recomputed: one layer's graph and a forward's working set). Where neither fits, the refusal is the smaller
     * pass's, so it names the smallest budget that would run the request.
     */
    private static boolean recomputesLayers(Request request, Serving on, boolean qkFix, boolean gradDrop) {
        String id = request.methodId();
        boolean offered = id.startsWith("atp");
        if (request.recomputeLayers() && !offered) {
            throw InvalidRequest.invalid(
                    "recompute_layers: only atp, atp-qk and atp-star run with per-layer recomputation, not " + id);
        }
        if (request.recomputeLayers()) {
            return true;
        }
        int length = request.pairs().get(0).length();
        Budget budget = on.budget();
        return offered
                && budget.gradientRowsFitting(length, qkFix, gradDrop) < 1
                && budget.layerwiseGradientRowBytes(
                                length, qkFix, gradDrop, request.nodes().perPosition(), false)
                        < budget.gradientRowBytes(length, qkFix, gradDrop);
    }

    /** What Accepted says of per-layer recomputation: asked for, or why the plan chose it. */
    private static String recomputation(
            Request request, Serving on, boolean qkFix, boolean gradDrop, boolean keepTables) {
        String tables = keepTables ? ", keeping each layer's QK-fix tables for GradDrop's variants" : "";
        if (request.recomputeLayers()) {
            return "per-layer recomputation (asked for)" + tables;
        }
        int length = request.pairs().get(0).length();
        return String.format(
                Locale.ROOT,
                "per-layer recomputation: one pair of the plain pass needs about %.2f GB, over the memory budget of"
                        + " %.2f GB; recomputed, about %.2f GB%s",
                on.budget().gradientRowBytes(length, qkFix, gradDrop) / 1e9,
                on.budget().bytes() / 1e9,
                on.budget()
                                .layerwiseGradientRowBytes(
                                        length, qkFix, gradDrop, request.nodes().perPosition(), keepTables)
                        / 1e9,
                tables);
    }

    /**
     * Runs a plan: the method's passes, then verification of the top nodes and the diagnostic over the rest; every
     * pass through {@code runner}. Returns the method's result.
     */
    public static AttributionResult run(PassRunner runner, Plan plan, Events events) {
        Request request = plan.request();
        List<PromptPair> pairs = request.pairs();
        events.accepted(plan.accepted());
        AttributionResult result = plan.method().run(runner, pairs, request.nodes(), new AttributionListener() {
            @Override
            public void onBlock(EffectBlock block) {
                events.block(block);
            }

            @Override
            public void onProgress(long done, long total) {
                events.progress("scoring", done, total);
            }
        });
        Cost cost = result.cost();
        if (plan.verify() > 0) {
            // Only the nodes to verify are ranked: a selection, never a sort of every node.
            List<AttributionResult.Scored> top = result.top(plan.verify());
            Verification.Result verified =
                    Verification.verify(runner, pairs, top, plan.patchRows(), (v, done, total) -> {
                        events.verified(v);
                        events.progress("verifying", done, total);
                    });
            cost = cost.plus(verified.cost());
            if (plan.diagnostic() != null) {
                FalseNegativeDiagnostic.Report<Node> report = Verification.diagnose(
                        runner,
                        pairs,
                        result.nodesExcept(top),
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
                plan.method().magnitudes(result.pairs())));
        return result;
    }
}
