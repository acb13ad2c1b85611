package dev.patchbay.server.mapping;

import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.attribution.CausalScrubbing;
import dev.patchbay.attribution.CircuitEvaluation;
import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.NodePatching;
import dev.patchbay.attribution.baselines.Subsampling;
import dev.patchbay.attribution.catalog.Methods;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.generation.Generation;
import dev.patchbay.generation.SteeringVector;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.Intervention;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.nodes.EdgeGraph;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.proto.v1.Ablation;
import dev.patchbay.proto.v1.AttributeEdgesRequest;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.DiagnosticOptions;
import dev.patchbay.proto.v1.DiscoverCircuitRequest;
import dev.patchbay.proto.v1.EdgeMethod;
import dev.patchbay.proto.v1.EvaluateCircuitRequest;
import dev.patchbay.proto.v1.GenerateRequest;
import dev.patchbay.proto.v1.MetricKind;
import dev.patchbay.proto.v1.Node;
import dev.patchbay.proto.v1.PatchRequest;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.ScrubClaim;
import dev.patchbay.proto.v1.ScrubRequest;
import dev.patchbay.proto.v1.SteeringVectorRequest;
import dev.patchbay.proto.v1.Token;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Turns requests into the engine's terms, or refuses them with a message that names the field at fault. */
public final class RequestParser {
    /**
     * A checked Attribute request.
     *
     * @param plannedForwardPasses the method's planned cost plus its verification, the one plan both the limit
     *     check and the Accepted event use
     * @param patchRows patched runs per batch, sized to the model's memory budget (verification uses it too)
     */
    public record Attribute(
            ServedModel model,
            List<PromptPair> pairs,
            NodeSet nodes,
            AttributionMethod method,
            int verifyTopK,
            long nodeCount,
            double plannedForwardPasses,
            FalseNegativeDiagnostic.Settings diagnostic,
            int patchRows) {}

    /** A checked Patch request; {@code patchRows} patched runs per batch fit the model's memory budget. */
    public record Patch(
            ServedModel model,
            List<PromptPair> pairs,
            List<List<dev.patchbay.nodes.Node>> groups,
            List<String> names,
            int patchRows) {}

    private final Map<String, ServedModel> models;
    private final ServerLimits limits;
    /** Steering vectors made by MakeSteeringVector, which interventions name. */
    private final SteeringVectors vectors = new SteeringVectors(1024);

    private final int batchRows;

    public RequestParser(Map<String, ServedModel> models, ServerLimits limits, int batchRows) {
        this.models = models;
        this.limits = limits;
        this.batchRows = batchRows;
    }

    public Attribute attribute(AttributeRequest r) throws RequestException {
        ServedModel model = model(r.getModel());
        List<PromptPair> pairs = pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        NodeSet nodes = nodes(r, model.config(), pairs);
        String id = switch (r.getMethod()) {
            case ACTIVATION_PATCHING -> "ap";
            case ATP -> "atp";
            case ATP_QK -> "atp-qk";
            case ATP_STAR, METHOD_UNSPECIFIED -> "atp-star";
            case ITERATIVE -> "iterative";
            case SUBSAMPLING -> "subsampling";
            case BLOCKS -> "blocks";
            case HIERARCHICAL -> "hierarchical";
            default -> throw RequestException.invalid("method: unknown value " + r.getMethodValue());
        };
        var b = r.getBaseline();
        finite(b.getInclusionProbability(), "baseline.inclusion_probability");
        if (b.getSamples() < 0
                || b.getBlockSize() < 0
                || b.getBranching() < 0
                || b.getMaxGroupPatches() < 0
                || b.getInclusionProbability() < 0
                || b.getInclusionProbability() >= 1
                || b.getBranching() == 1
                || b.getSamples() == 1) {
            throw RequestException.invalid("baseline: samples >= 2, 0 < inclusion_probability < 1, block_size >= 1,"
                    + " branching >= 2 and max_group_patches >= 0 (zero takes the default)");
        }
        boolean gradients = id.startsWith("atp");
        int patchRows = patchRowsFitting(model, pairs);
        boolean qkFix = (id.equals("atp-qk") || id.equals("atp-star")) && nodes.hasQueriesOrKeys();
        int gradientRows = gradients ? gradientRowsFitting(model, pairs, id, qkFix) : batchRows;
        AttributionMethod method = Methods.byId(
                id,
                patchRows,
                gradientRows,
                new Methods.BaselineSettings(
                        b.getSeed(),
                        b.getSamples(),
                        b.getInclusionProbability(),
                        b.getBlockSize(),
                        b.getBranching(),
                        b.getMaxGroupPatches()));
        long count = nodes.count(model.config(), pairs.get(0).length());
        if (id.equals("subsampling") && b.getInclusionProbability() > 0) {
            checkInclusion(count, b.getInclusionProbability(), "baseline.inclusion_probability");
        }
        long verify = verifyCount(r.getVerifyTopK(), r.getVerifyBudget(), count, pairs);
        // Verification patches each verified node once per pair, after each pair's clean and noise runs.
        double planned = method.plannedForwardPasses(model.loaded().transformer(), pairs, nodes)
                + pairs.size() * (verify > 0 ? 2.0 + verify : 0);
        if (planned > limits.maxPatchedRuns()) {
            throw RequestException.tooLarge("nodes: " + (long) Math.ceil(planned / pairs.size())
                    + " patched runs for each of " + pairs.size() + " pairs exceed the server's limit of "
                    + limits.maxPatchedRuns() + "; choose fewer nodes or use an AtP method");
        }
        FalseNegativeDiagnostic.Settings diagnostic = diagnostic(r.getDiagnostic(), verify, count, pairs, "nodes");
        if (diagnostic != null) {
            // The Accepted event's plan includes the diagnostic's patched runs, one per sample and pair.
            planned += (double) diagnostic.samples() * pairs.size();
        }
        return new Attribute(model, pairs, nodes, method, (int) verify, count, planned, diagnostic, patchRows);
    }

    /** The text, refused before any tokenizing if it is longer than the server's limit. */
    /** A checked AttributeEdges request; {@code settings} carries the rows per pass that fit the memory budget. */
    public record AttributeEdges(
            ServedModel model,
            List<PromptPair> pairs,
            EdgeAttribution.Settings settings,
            int verifyTopK,
            long edgeCount,
            double plannedForwardPasses,
            FalseNegativeDiagnostic.Settings diagnostic,
            int patchRows) {}

    /** The most EAP-IG steps a request may ask for (each is a forward and a backward pass per pair). */
    public static final int MAX_IG_STEPS = 256;

    public AttributeEdges attributeEdges(AttributeEdgesRequest r) throws RequestException {
        ServedModel model = model(r.getModel());
        List<PromptPair> pairs = pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        EdgeAttribution.Method method = switch (r.getMethod()) {
            case EXACT_EDGE_PATCHING -> EdgeAttribution.Method.EXACT;
            case EAP -> EdgeAttribution.Method.EAP;
            case EAP_IG -> EdgeAttribution.Method.EAP_IG;
            case EDGE_ATP_STAR, EDGE_METHOD_UNSPECIFIED -> EdgeAttribution.Method.ATP_STAR;
            default -> throw RequestException.invalid("method: unknown value " + r.getMethodValue());
        };
        if (r.getIgSteps() < 0 || r.getIgSteps() > MAX_IG_STEPS) {
            throw RequestException.invalid(
                    "ig_steps: between 1 and " + MAX_IG_STEPS + " (0 takes the default), got " + r.getIgSteps());
        }
        int steps = r.getIgSteps() == 0 ? EdgeAttribution.Settings.DEFAULT_IG_STEPS : r.getIgSteps();
        try {
            EdgeAttribution.validate(pairs, r.getPerPosition(), model.config());
        } catch (IllegalArgumentException e) {
            throw RequestException.invalid(e.getMessage());
        }
        int patchRows = patchRowsFitting(model, pairs);
        int gradientRows = batchRows;
        if (method.estimate() != null) {
            int length = pairs.get(0).length();
            int fit = model.device().budget().edgeRowsFitting(length, method.estimate(), steps);
            if (fit < 1) {
                throw overBudget(
                        model,
                        length,
                        model.device().budget().edgeRowBytes(length, method.estimate(), steps),
                        method.id());
            }
            gradientRows = Math.min(batchRows, fit);
        }
        EdgeAttribution.Settings settings =
                new EdgeAttribution.Settings(method, r.getPerPosition(), steps, gradientRows, patchRows);
        EdgeGraph graph = new EdgeGraph(model.config());
        long count = EdgeAttribution.edgeCount(graph, pairs.get(0).length(), r.getPerPosition());
        long verify = verifyCount(r.getVerifyTopK(), r.getVerifyBudget(), count, pairs);
        double planned =
                EdgeAttribution.plannedPasses(graph, pairs, settings) + pairs.size() * (verify > 0 ? 2.0 + verify : 0);
        if (planned > limits.maxPatchedRuns()) {
            throw RequestException.tooLarge("method: " + (long) Math.ceil(planned / pairs.size())
                    + " patched runs for each of " + pairs.size() + " pairs exceed the server's limit of "
                    + limits.maxPatchedRuns() + "; use an estimate (EAP, EAP-IG, AtP*) and verify its top edges");
        }
        FalseNegativeDiagnostic.Settings diagnostic = diagnostic(r.getDiagnostic(), verify, count, pairs, "edges");
        if (diagnostic != null) {
            planned += (double) diagnostic.samples() * pairs.size();
        }
        return new AttributeEdges(model, pairs, settings, (int) verify, count, planned, diagnostic, patchRows);
    }

    /**
     * A checked EvaluateCircuit request: the circuits by name, or (circuits empty) a prune curve of {@code ranking}'s
     * top-n edges for each of {@code sizes}.
     */
    public record EvaluateCircuit(
            ServedModel model,
            List<PromptPair> pairs,
            CircuitEvaluation.Ablation ablation,
            long seed,
            List<Set<dev.patchbay.nodes.Edge>> circuits,
            List<String> names,
            EdgeAttribution.Settings ranking,
            int[] sizes,
            int patchRows) {
        /** Circuits (or prune-curve points) the request evaluates. */
        public int points() {
            return ranking == null ? circuits.size() : sizes.length;
        }
    }

    public EvaluateCircuit evaluateCircuit(EvaluateCircuitRequest r) throws RequestException {
        ServedModel model = model(r.getModel());
        List<PromptPair> pairs = pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        CircuitEvaluation.Ablation ablation = ablation(r.getAblation(), pairs);
        EdgeGraph graph = new EdgeGraph(model.config());
        int length = pairs.get(0).length();
        List<Set<dev.patchbay.nodes.Edge>> circuits = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (int c = 0; c < r.getCircuitsCount(); c++) {
            var circuit = r.getCircuits(c);
            Set<dev.patchbay.nodes.Edge> edges = new java.util.LinkedHashSet<>();
            for (int e = 0; e < circuit.getEdgesCount(); e++) {
                String field = "circuits[" + c + "].edges[" + e + "]";
                try {
                    dev.patchbay.nodes.Edge edge = dev.patchbay.nodes.Edge.parse(circuit.getEdges(e));
                    graph.check(edge, length);
                    if (edge.position() >= 0) {
                        throw new IllegalArgumentException(
                                "circuits are of edges over all positions, not " + edge.name());
                    }
                    edges.add(edge);
                } catch (IllegalArgumentException ex) {
                    throw RequestException.invalid(field + ": " + ex.getMessage());
                }
            }
            circuits.add(edges);
            names.add(circuit.getName().isEmpty() ? "circuit " + c : circuit.getName());
        }
        EdgeAttribution.Settings ranking = null;
        int[] sizes = new int[0];
        int rows = patchRowsFitting(model, pairs);
        if (circuits.isEmpty()) {
            ranking = ranking(model, pairs, r.getRanking(), r.getIgSteps(), rows);
            long edges = graph.edges();
            if (r.getSizesCount() == 0) {
                List<Integer> defaults = new ArrayList<>(List.of(0));
                for (long n = 1; n < edges; n *= 2) {
                    defaults.add((int) n);
                }
                defaults.add((int) edges);
                sizes = defaults.stream().mapToInt(Integer::intValue).toArray();
            } else {
                sizes = r.getSizesList().stream().mapToInt(Integer::intValue).toArray();
                for (int i = 0; i < sizes.length; i++) {
                    if (sizes[i] < 0 || sizes[i] > edges) {
                        throw RequestException.invalid(
                                "sizes[" + i + "]: " + sizes[i] + " outside [0, " + edges + "] (the model's edges)");
                    }
                }
            }
        }
        int points = circuits.isEmpty() ? sizes.length : circuits.size();
        double runs = (double) (points + 2) * pairs.size();
        if (circuits.isEmpty() && ranking.method() == EdgeAttribution.Method.EXACT) {
            runs += EdgeAttribution.plannedPasses(graph, pairs, ranking);
        }
        if (runs > limits.maxPatchedRuns()) {
            throw RequestException.tooLarge("circuits: " + (long) runs + " runs exceed the server's limit of "
                    + limits.maxPatchedRuns() + "; evaluate fewer circuits or points");
        }
        return new EvaluateCircuit(model, pairs, ablation, r.getSeed(), circuits, names, ranking, sizes, rows);
    }

    /** A checked DiscoverCircuit request: the ranking greedy search starts from is null for the ACDC-style search. */
    public record DiscoverCircuit(
            ServedModel model,
            List<PromptPair> pairs,
            CircuitEvaluation.Ablation ablation,
            long seed,
            boolean acdc,
            EdgeAttribution.Settings ranking,
            double target,
            double threshold,
            int patchRows) {}

    public DiscoverCircuit discoverCircuit(DiscoverCircuitRequest r) throws RequestException {
        ServedModel model = model(r.getModel());
        List<PromptPair> pairs = pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        CircuitEvaluation.Ablation ablation = ablation(r.getAblation(), pairs);
        boolean acdc = switch (r.getSearch()) {
            case GREEDY, DISCOVERY_SEARCH_UNSPECIFIED -> false;
            case ACDC -> true;
            default -> throw RequestException.invalid("search: unknown value " + r.getSearchValue());
        };
        double target = finite(r.getTarget(), "target");
        target = target == 0 ? 0.9 : target;
        if (!(target > 0 && target <= 1)) {
            throw RequestException.invalid("target: a faithfulness in (0, 1] (0 takes 0.9), got " + r.getTarget());
        }
        double threshold = finite(r.getThreshold(), "threshold");
        threshold = threshold == 0 ? 0.01 : threshold;
        if (threshold < 0) {
            throw RequestException.invalid("threshold: must not be negative (0 takes 0.01), got " + r.getThreshold());
        }
        int rows = patchRowsFitting(model, pairs);
        EdgeAttribution.Settings ranking = acdc ? null : ranking(model, pairs, r.getRanking(), r.getIgSteps(), rows);
        EdgeGraph graph = new EdgeGraph(model.config());
        // At most one run per edge, a prefix search, and the full and empty circuits, per pair.
        double runs = (graph.edges() + 2 + 2 * (64 - Long.numberOfLeadingZeros(graph.edges()))) * (double) pairs.size();
        if (ranking != null && ranking.method() == EdgeAttribution.Method.EXACT) {
            runs += EdgeAttribution.plannedPasses(graph, pairs, ranking);
        }
        if (runs > limits.maxPatchedRuns()) {
            throw RequestException.tooLarge("pairs: discovery may take " + (long) runs + " runs, over the server's"
                    + " limit of " + limits.maxPatchedRuns() + "; use fewer pairs");
        }
        return new DiscoverCircuit(model, pairs, ablation, r.getSeed(), acdc, ranking, target, threshold, rows);
    }

    /** A checked Scrub request: the hypothesis checked against the model and the pairs. */
    public record Scrub(
            ServedModel model,
            List<PromptPair> pairs,
            CausalScrubbing.Hypothesis hypothesis,
            int samples,
            long seed,
            int patchRows) {}

    public Scrub scrub(ScrubRequest r) throws RequestException {
        ServedModel model = model(r.getModel());
        List<dev.patchbay.proto.v1.PromptPair> in = new ArrayList<>();
        for (dev.patchbay.proto.v1.PromptPair p : r.getPairsList()) {
            // Scrubbing reads only the clean prompts: a pair may leave its noise prompt out.
            in.add(p.hasNoise() ? p : p.toBuilder().setNoise(p.getClean()).build());
        }
        List<PromptPair> pairs = pairs(model, in, r.getMetric(), r.getAllowUnknownTokens());
        if (pairs.size() < 2) {
            throw RequestException.invalid("pairs: causal scrubbing resamples among inputs; give at least two");
        }
        if (r.getSamples() < 0 || r.getSamples() == 1) {
            throw RequestException.invalid(
                    "samples: at least 2, for a confidence interval (0 takes 200), got " + r.getSamples());
        }
        int samples = r.getSamples() == 0 ? 200 : r.getSamples();
        List<CausalScrubbing.Claim> claims = new ArrayList<>();
        for (ScrubClaim c : r.getClaimsList()) {
            claims.add(new CausalScrubbing.Claim(c.getPart(), c.getLabelsList()));
        }
        CausalScrubbing.Hypothesis hypothesis;
        try {
            hypothesis = CausalScrubbing.Hypothesis.of(model.config(), pairs, claims);
        } catch (IllegalArgumentException e) {
            throw RequestException.invalid(e.getMessage());
        }
        double runs = (double) samples * hypothesis.runsPerSample() + pairs.size();
        if (runs > limits.maxPatchedRuns()) {
            throw RequestException.tooLarge("samples: " + samples + " samples of " + hypothesis.runsPerSample()
                    + " model runs each exceed the server's limit of " + limits.maxPatchedRuns()
                    + " runs; draw fewer samples");
        }
        return new Scrub(model, pairs, hypothesis, samples, r.getSeed(), patchRowsFitting(model, pairs));
    }

    /** A checked Generate request. */
    public record Generate(
            ServedModel model,
            List<int[]> prompts,
            List<Generation.Steer> steers,
            List<Generation.PatchFrom> patches,
            Generation.Settings settings,
            int topAlternatives,
            int[] watch) {}

    public Generate generate(GenerateRequest r) throws RequestException {
        ServedModel model = model(r.getModel());
        if (r.getPromptsCount() == 0) {
            throw RequestException.invalid("prompts: at least one prompt is needed");
        }
        if (r.getPromptsCount() > limits.maxPairs()) {
            throw RequestException.tooLarge(
                    "prompts: " + r.getPromptsCount() + " prompts exceed the server's limit of " + limits.maxPairs());
        }
        int newTokens = r.getMaxNewTokens() == 0 ? 16 : r.getMaxNewTokens();
        if (newTokens < 0) {
            throw RequestException.invalid("max_new_tokens: at least 1 (0 takes 16), got " + r.getMaxNewTokens());
        }
        List<int[]> prompts = new ArrayList<>();
        long longest = 0;
        for (int i = 0; i < r.getPromptsCount(); i++) {
            int[] ids = prompt(model, r.getPrompts(i), "prompts[" + i + "]", r.getAllowUnknownTokens());
            prompts.add(ids);
            longest = Math.max(longest, ids.length);
        }
        ModelConfig config = model.config();
        long limit =
                config.learnedPositions() ? Math.min(limits.maxTokens(), config.maxPositions()) : limits.maxTokens();
        if (longest + newTokens > limit) {
            throw RequestException.invalid("max_new_tokens: a prompt of " + longest + " tokens and " + newTokens
                    + " new ones exceed " + limit + " tokens (the server's or the model's limit)");
        }
        long bytes = model.device().budget().generationBytes(prompts.size(), (int) (longest + newTokens));
        if (bytes > model.device().memoryBudget()) {
            throw RequestException.tooLarge(String.format(
                    java.util.Locale.ROOT,
                    "prompts: %d prompts of up to %d tokens need about %.2f GB (their KV cache and first step), over"
                            + " the server's memory budget of %.2f GB; send fewer prompts or fewer new tokens",
                    prompts.size(),
                    longest + newTokens,
                    bytes / 1e9,
                    model.device().memoryBudget() / 1e9));
        }
        // Each step is a pass: charge them as patched runs.
        if ((double) prompts.size() * newTokens > limits.maxPatchedRuns()) {
            throw RequestException.tooLarge("max_new_tokens: " + prompts.size() + " prompts x " + newTokens
                    + " steps exceed the server's limit of " + limits.maxPatchedRuns() + " runs");
        }
        double temperature = finite(r.getTemperature(), "temperature");
        if (temperature < 0) {
            throw RequestException.invalid("temperature: 0 (greedy) or positive, got " + temperature);
        }
        if (r.getTopK() < 0) {
            throw RequestException.invalid("top_k: 0 (all) or positive, got " + r.getTopK());
        }
        double topP = finite(r.getTopP(), "top_p");
        if (topP < 0 || topP > 1) {
            throw RequestException.invalid("top_p: in [0, 1] (0 or 1: all), got " + topP);
        }
        if (r.getTopAlternatives() < 0 || r.getTopAlternatives() > 20) {
            throw RequestException.invalid("top_alternatives: in [0, 20], got " + r.getTopAlternatives());
        }
        int[] stop = tokens(model, r.getStopList(), "stop", r.getAllowUnknownTokens());
        int[] watch = tokens(model, r.getWatchList(), "watch", r.getAllowUnknownTokens());
        List<Generation.Steer> steers = new ArrayList<>();
        List<Generation.PatchFrom> patches = new ArrayList<>();
        for (int i = 0; i < r.getInterventionsCount(); i++) {
            var in = r.getInterventions(i);
            String at = "interventions[" + i + "]";
            if (in.getOp() == dev.patchbay.proto.v1.InterventionOp.OP_PATCH
                    || in.getOp() == dev.patchbay.proto.v1.InterventionOp.OP_MEAN
                    || in.getOp() == dev.patchbay.proto.v1.InterventionOp.OP_RESAMPLE) {
                patches.add(patchFrom(model, in, at, prompts, r.getSeed(), r.getAllowUnknownTokens()));
            } else {
                steers.add(steer(r.getModel(), model, in, at));
            }
        }
        return new Generate(
                model,
                prompts,
                steers,
                patches,
                new Generation.Settings(newTokens, stop, temperature, r.getTopK(), topP, r.getSeed()),
                r.getTopAlternatives(),
                watch);
    }

    /** A patch from a source prompt: its site (not an attention map), units, and a source no longer than a prompt. */
    private Generation.PatchFrom patchFrom(
            ServedModel model,
            dev.patchbay.proto.v1.Intervention in,
            String at,
            List<int[]> prompts,
            long seed,
            boolean allowUnknown)
            throws RequestException {
        String site = in.getSite();
        if (!model.loaded().transformer().hookSites().contains(site)
                || HookSites.layoutOf(site) == SiteLayout.ATTENTION_MAP) {
            throw RequestException.invalid(at + ".site: '" + site + "' is not a hook site of the model that"
                    + " generation patches (attention maps are not)");
        }
        boolean one = in.getOp() == dev.patchbay.proto.v1.InterventionOp.OP_PATCH;
        List<int[]> sources = new ArrayList<>();
        if (one) {
            if (!in.hasSource()) {
                throw RequestException.invalid(at + ".source: OP_PATCH needs the prompt to patch from");
            }
            sources.add(prompt(model, in.getSource(), at + ".source", allowUnknown));
        } else {
            if (in.getSourcesCount() == 0 || in.getSourcesCount() > limits.maxPairs()) {
                throw RequestException.invalid(
                        at + ".sources: 1 to " + limits.maxPairs() + " prompts, got " + in.getSourcesCount());
            }
            for (int j = 0; j < in.getSourcesCount(); j++) {
                sources.add(prompt(model, in.getSources(j), at + ".sources[" + j + "]", allowUnknown));
            }
        }
        int shortest = prompts.stream().mapToInt(p -> p.length).min().orElse(0);
        for (int j = 0; j < sources.size(); j++) {
            String field = one ? at + ".source" : at + ".sources[" + j + "]";
            if (sources.get(j).length > shortest) {
                throw RequestException.invalid(field + ": " + sources.get(j).length + " tokens, longer than the"
                        + " shortest prompt (" + shortest + ")");
            }
            if (in.getOp() == dev.patchbay.proto.v1.InterventionOp.OP_MEAN
                    && sources.get(j).length != sources.get(0).length) {
                throw RequestException.invalid(field + ": a mean over sources needs them of one length ("
                        + sources.get(0).length + " tokens)");
            }
        }
        int[] units = in.getUnitsList().stream().mapToInt(Integer::intValue).toArray();
        int count = unitCount(model.config(), site);
        for (int u = 0; u < units.length; u++) {
            if (units[u] < 0 || units[u] >= count) {
                throw RequestException.invalid(
                        at + ".units[" + u + "]: " + units[u] + " outside [0, " + count + ") at " + site);
            }
        }
        Generation.PatchKind kind = switch (in.getOp()) {
            case OP_MEAN -> Generation.PatchKind.MEAN;
            case OP_RESAMPLE -> Generation.PatchKind.RESAMPLE;
            default -> Generation.PatchKind.PROMPT;
        };
        return new Generation.PatchFrom(site, sources, kind, units.length == 0 ? null : units, seed);
    }

    /** Heads of a per-head site (key/value heads for keys and values), neurons of an MLP site, 0 on the stream. */
    private static int unitCount(ModelConfig c, String site) {
        String leaf = site.substring(site.lastIndexOf('.') + 1);
        boolean kv = leaf.startsWith("hook_k") || leaf.startsWith("hook_v") || leaf.equals("hook_rot_k");
        return switch (HookSites.layoutOf(site)) {
            case HEADS, ATTENTION_MAP -> kv ? c.nKvHeads() : c.nHeads();
            case NEURONS -> c.dMlp();
            case RESIDUAL -> 0;
        };
    }

    /** An intervention checked against the model: its site, op, units, positions and value length. */
    private Generation.Steer steer(
            String modelName, ServedModel model, dev.patchbay.proto.v1.Intervention in, String at)
            throws RequestException {
        String site = in.getSite();
        if (!model.loaded().transformer().hookSites().contains(site)) {
            throw RequestException.invalid(
                    at + ".site: '" + site + "' is not a hook site of the model" + " (ListModels lists them)");
        }
        Intervention.Op op = switch (in.getOp()) {
            case OP_ADD -> Intervention.Op.ADD;
            case OP_SET -> Intervention.Op.SET;
            case OP_SCALE -> Intervention.Op.SCALE;
            case OP_ZERO -> Intervention.Op.ZERO;
            default ->
                throw RequestException.invalid(at + ".op: name one of OP_ADD, OP_SET, OP_SCALE, OP_ZERO, OP_PATCH");
        };
        ModelConfig c = model.config();
        SiteLayout layout = HookSites.layoutOf(site);
        String leaf = site.substring(site.lastIndexOf('.') + 1);
        int units = unitCount(c, site);
        int[] chosen = in.getUnitsList().stream().mapToInt(Integer::intValue).toArray();
        if (units == 0 && chosen.length > 0) {
            throw RequestException.invalid(at + ".units: " + site + " is a residual site, with no heads or neurons");
        }
        for (int u = 0; u < chosen.length; u++) {
            if (chosen[u] < 0 || chosen[u] >= units) {
                throw RequestException.invalid(
                        at + ".units[" + u + "]: " + chosen[u] + " outside [0, " + units + ") at " + site);
            }
        }
        long width = switch (layout) {
            case HEADS -> leaf.endsWith("_input") ? c.dModel() : c.dHead();
            case NEURONS -> c.dMlp();
            case RESIDUAL -> c.dModel();
            case ATTENTION_MAP -> -1; // as long as the sequence: checked as it runs
        };
        boolean needsValue = op == Intervention.Op.ADD || op == Intervention.Op.SET;
        double[] named = null;
        if (!in.getVector().isEmpty()) {
            SteeringVectors.Kept kept = vectors.get(modelName, in.getVector());
            if (kept == null) {
                throw RequestException.invalid(at + ".vector: no steering vector '" + in.getVector() + "' was made"
                        + " for " + modelName + " (MakeSteeringVector makes one)");
            }
            if (!needsValue || in.getValueCount() > 0) {
                throw RequestException.invalid(at + ".vector: only add and set take a vector, and not with value");
            }
            named = kept.values();
        }
        int values = named != null ? named.length : in.getValueCount();
        if (needsValue
                && width > 0
                && values != 1
                && values != width
                && !(layout == SiteLayout.NEURONS && chosen.length > 0 && values == chosen.length)) {
            throw RequestException.invalid(at + ".value: " + values + " numbers; give 1, or " + width
                    + " (the last axis of " + site + ")" + (layout == SiteLayout.NEURONS ? ", or one per unit" : ""));
        }
        if (!needsValue && values > 0) {
            throw RequestException.invalid(
                    at + ".value: " + op.name().toLowerCase(java.util.Locale.ROOT) + " takes no value");
        }
        Generation.Positions where = switch (in.getWhere()) {
            case POSITIONS_ALL -> Generation.Positions.ALL;
            case POSITIONS_PROMPT -> Generation.Positions.PROMPT;
            case POSITIONS_GENERATED -> Generation.Positions.GENERATED;
            case POSITIONS_GIVEN -> Generation.Positions.GIVEN;
            default -> throw RequestException.invalid(at + ".where: unknown value " + in.getWhereValue());
        };
        int[] positions =
                in.getPositionsList().stream().mapToInt(Integer::intValue).toArray();
        if (where == Generation.Positions.GIVEN && positions.length == 0) {
            throw RequestException.invalid(at + ".positions: POSITIONS_GIVEN needs at least one position");
        }
        for (int t = 0; t < positions.length; t++) {
            if (positions[t] < 0) {
                throw RequestException.invalid(at + ".positions[" + t + "]: " + positions[t] + " is negative");
            }
        }
        double coefficient = in.hasCoefficient() ? finite(in.getCoefficient(), at + ".coefficient") : 1;
        double[] value = named != null
                ? named
                : needsValue
                        ? in.getValueList().stream()
                                .mapToDouble(Double::doubleValue)
                                .toArray()
                        : null;
        if (value != null) {
            for (int v = 0; v < value.length; v++) {
                finite(value[v], at + ".value[" + v + "]");
            }
        }
        return new Generation.Steer(
                new Intervention(
                        site,
                        op,
                        0,
                        where == Generation.Positions.GIVEN ? positions : null,
                        chosen.length == 0 ? null : chosen,
                        value,
                        coefficient),
                where);
    }

    /** A checked MakeSteeringVector request. */
    public record SteeringVectorSpec(
            ServedModel model,
            String modelName,
            String site,
            List<SteeringVector.Contrast> pairs,
            SteeringVector.Reading reading,
            String name) {}

    public SteeringVectorSpec steeringVector(SteeringVectorRequest r) throws RequestException {
        ServedModel model = model(r.getModel());
        if (r.getName().isBlank() || r.getName().length() > 200) {
            throw RequestException.invalid("name: a name of 1 to 200 characters is needed");
        }
        if (!model.loaded().transformer().hookSites().contains(r.getSite())
                || HookSites.layoutOf(r.getSite()) != SiteLayout.RESIDUAL) {
            throw RequestException.invalid("site: '" + r.getSite() + "' is not a residual-stream hook site of the"
                    + " model (blocks.L.hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out, hook_mlp_out)");
        }
        if (r.getPairsCount() == 0) {
            throw RequestException.invalid("pairs: at least one contrastive pair is needed");
        }
        if (r.getPairsCount() > limits.maxPairs()) {
            throw RequestException.tooLarge(
                    "pairs: " + r.getPairsCount() + " pairs exceed the server's limit of " + limits.maxPairs());
        }
        List<SteeringVector.Contrast> pairs = new ArrayList<>();
        for (int i = 0; i < r.getPairsCount(); i++) {
            var c = r.getPairs(i);
            pairs.add(new SteeringVector.Contrast(
                    prompt(model, c.getPositive(), "pairs[" + i + "].positive", r.getAllowUnknownTokens()),
                    prompt(model, c.getNegative(), "pairs[" + i + "].negative", r.getAllowUnknownTokens())));
        }
        SteeringVector.Reading reading = switch (r.getReading()) {
            case READING_LAST_TOKEN -> SteeringVector.Reading.LAST_TOKEN;
            case READING_MEAN_OVER_POSITIONS -> SteeringVector.Reading.MEAN_OVER_POSITIONS;
            default -> throw RequestException.invalid("reading: unknown value " + r.getReadingValue());
        };
        vectors.checkRoom(r.getModel(), r.getName());
        return new SteeringVectorSpec(model, r.getModel(), r.getSite(), pairs, reading, r.getName());
    }

    /** Keeps a steering vector under its request's name. */
    public void keep(SteeringVectorSpec spec, double[] values) {
        vectors.put(spec.modelName(), spec.name(), new SteeringVectors.Kept(spec.site(), values));
    }

    private static CircuitEvaluation.Ablation ablation(Ablation a, List<PromptPair> pairs) throws RequestException {
        CircuitEvaluation.Ablation ablation = switch (a) {
            case RESAMPLE, ABLATION_UNSPECIFIED -> CircuitEvaluation.Ablation.RESAMPLE;
            case MEAN -> CircuitEvaluation.Ablation.MEAN;
            case ZERO -> CircuitEvaluation.Ablation.ZERO;
            case NOISE_PROMPT -> CircuitEvaluation.Ablation.NOISE_PROMPT;
            default -> throw RequestException.invalid("ablation: unknown value " + a);
        };
        for (int i = 0; i < pairs.size(); i++) {
            if (pairs.get(i).length() != pairs.get(0).length()) {
                throw RequestException.invalid("pairs[" + i + "]: circuits need pairs of one length ("
                        + pairs.get(0).length() + " tokens), this one has "
                        + pairs.get(i).length());
            }
        }
        if (ablation == CircuitEvaluation.Ablation.RESAMPLE && pairs.size() < 2) {
            throw RequestException.invalid("ablation: resample draws from other pairs; give at least two pairs");
        }
        return ablation;
    }

    /** The edge ranking a prune curve or a greedy search starts from, its passes sized to the memory budget. */
    private EdgeAttribution.Settings ranking(
            ServedModel model, List<PromptPair> pairs, EdgeMethod ranking, int igSteps, int patchRows)
            throws RequestException {
        EdgeAttribution.Method method = switch (ranking) {
            case EXACT_EDGE_PATCHING -> EdgeAttribution.Method.EXACT;
            case EAP -> EdgeAttribution.Method.EAP;
            case EAP_IG -> EdgeAttribution.Method.EAP_IG;
            case EDGE_ATP_STAR, EDGE_METHOD_UNSPECIFIED -> EdgeAttribution.Method.ATP_STAR;
            default -> throw RequestException.invalid("ranking: unknown value " + ranking);
        };
        if (igSteps < 0 || igSteps > MAX_IG_STEPS) {
            throw RequestException.invalid(
                    "ig_steps: between 1 and " + MAX_IG_STEPS + " (0 takes the default), got " + igSteps);
        }
        int steps = igSteps == 0 ? EdgeAttribution.Settings.DEFAULT_IG_STEPS : igSteps;
        int length = pairs.get(0).length();
        int gradientRows = batchRows;
        if (method.estimate() != null) {
            int fit = model.device().budget().edgeRowsFitting(length, method.estimate(), steps);
            if (fit < 1) {
                throw overBudget(
                        model,
                        length,
                        model.device().budget().edgeRowBytes(length, method.estimate(), steps),
                        method.id());
            }
            gradientRows = Math.min(batchRows, fit);
        }
        return new EdgeAttribution.Settings(method, false, steps, gradientRows, patchRows);
    }

    /** How many top items verification patches: verify_top_k, capped by the items and by verify_budget. */
    private static long verifyCount(int topK, double budget, long count, List<PromptPair> pairs)
            throws RequestException {
        if (topK < 0) {
            throw RequestException.invalid("verify_top_k: must not be negative, got " + topK);
        }
        // NaN would compare false below and read as "no cap".
        if (finite(budget, "verify_budget") < 0) {
            throw RequestException.invalid("verify_budget: must not be negative, got " + budget);
        }
        long verify = Math.min(count, topK);
        if (budget > 0) {
            // Each verified item costs one run per pair, after every pair's clean and noise runs.
            verify = Math.min(verify, Math.max(0, (long) Math.floor(budget / pairs.size()) - 2));
        }
        return verify;
    }

    /** The diagnostic's settings, or null when it is off; {@code what} names the items ("nodes", "edges"). */
    private FalseNegativeDiagnostic.Settings diagnostic(
            DiagnosticOptions d, long verify, long count, List<PromptPair> pairs, String what) throws RequestException {
        if (!d.getEnabled()) {
            return null;
        }
        if (verify == 0) {
            throw RequestException.invalid("diagnostic: needs verification (verify_top_k > 0, and a verify_budget"
                    + " that allows it): it bounds the " + what + " left unverified");
        }
        // Zero takes the default; NaN and infinities are refused, never read as "no limit".
        double inclusion = finite(d.getInclusionProbability(), "diagnostic.inclusion_probability");
        double alpha = finite(d.getAlpha(), "diagnostic.alpha");
        if (d.getSamples() < 0) {
            throw RequestException.invalid(
                    "diagnostic.samples: must not be negative (zero takes the default), got " + d.getSamples());
        }
        double threshold = finite(d.getThreshold(), "diagnostic.threshold");
        FalseNegativeDiagnostic.Settings settings;
        try {
            settings = new FalseNegativeDiagnostic.Settings(
                    d.getSamples() > 0 ? d.getSamples() : FalseNegativeDiagnostic.Settings.DEFAULT_SAMPLES,
                    inclusion != 0 ? inclusion : FalseNegativeDiagnostic.Settings.DEFAULT_INCLUSION,
                    alpha != 0 ? alpha : FalseNegativeDiagnostic.Settings.DEFAULT_ALPHA,
                    threshold,
                    d.getSeed());
        } catch (IllegalArgumentException e) {
            throw RequestException.invalid(e.getMessage());
        }
        checkInclusion(count - verify, settings.inclusionProbability(), "diagnostic.inclusion_probability");
        if ((long) settings.samples() * pairs.size() > limits.maxPatchedRuns()) {
            throw RequestException.tooLarge("diagnostic.samples: " + settings.samples() + " runs for each of "
                    + pairs.size() + " pairs exceed the server's limit of " + limits.maxPatchedRuns());
        }
        return settings;
    }

    public String text(String text, String field) throws RequestException {
        if (text.length() > limits.maxTextChars()) {
            throw RequestException.tooLarge(field + ": " + text.length() + " characters exceed the server's limit of "
                    + limits.maxTextChars() + " (checked before tokenizing)");
        }
        return text;
    }

    /** The value, refused with the field's name if it is NaN or infinite. */
    private static double finite(double value, String field) throws RequestException {
        if (!Double.isFinite(value)) {
            throw RequestException.invalid(field + ": must be a finite number, got " + value);
        }
        return value;
    }

    /** Refuses an inclusion probability that would leave Subsampling's random subsets empty (and loop). */
    private static void checkInclusion(long nodes, double p, String field) throws RequestException {
        if (nodes <= 0) {
            return;
        }
        try {
            Subsampling.checkInclusion(nodes, p);
        } catch (IllegalArgumentException e) {
            throw RequestException.invalid(field + ": " + e.getMessage());
        }
    }

    public Patch patch(PatchRequest r) throws RequestException {
        ServedModel model = model(r.getModel());
        List<PromptPair> pairs = pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        if (r.getGroupsCount() == 0) {
            throw RequestException.invalid("groups: at least one node group is needed");
        }
        if ((long) r.getGroupsCount() * pairs.size() > limits.maxPatchedRuns()) {
            throw RequestException.tooLarge("groups: " + r.getGroupsCount() + " groups for " + pairs.size()
                    + " pairs exceed the server's limit of " + limits.maxPatchedRuns() + " patched runs");
        }
        List<List<dev.patchbay.nodes.Node>> groups = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (int g = 0; g < r.getGroupsCount(); g++) {
            var group = r.getGroups(g);
            if (group.getNodesCount() == 0) {
                throw RequestException.invalid("groups[" + g + "].nodes: empty group");
            }
            List<dev.patchbay.nodes.Node> nodes = new ArrayList<>();
            for (int n = 0; n < group.getNodesCount(); n++) {
                var parsed = groupNode(group.getNodes(n), "groups[" + g + "].nodes[" + n + "]");
                try {
                    NodePatching.checkNode(parsed, model.config(), pairs);
                } catch (IllegalArgumentException e) {
                    throw RequestException.invalid("groups[" + g + "].nodes[" + n + "]: " + e.getMessage());
                }
                nodes.add(parsed);
            }
            groups.add(nodes);
            names.add(
                    group.getName().isEmpty()
                            ? String.join(
                                    "+",
                                    nodes.stream()
                                            .map(dev.patchbay.nodes.Node::name)
                                            .toList())
                            : group.getName());
        }
        return new Patch(model, pairs, groups, names, patchRowsFitting(model, pairs));
    }

    /**
     * Rows of a forward pass at this request's length within the batch limit and the model's memory budget;
     * refuses the request when not even one fits.
     */
    private int patchRowsFitting(ServedModel model, List<PromptPair> pairs) throws RequestException {
        int length = pairs.get(0).length();
        int fit = model.device().budget().forwardRowsFitting(length);
        if (fit < 1) {
            throw overBudget(model, length, model.device().budget().forwardRowBytes(length), "a forward pass");
        }
        return Math.min(batchRows, fit);
    }

    /** Pairs of an AtP-family pass within the batch limit and the memory budget; refuses when none fits. */
    private int gradientRowsFitting(ServedModel model, List<PromptPair> pairs, String method, boolean qkFix)
            throws RequestException {
        int length = pairs.get(0).length();
        int fit = model.device().budget().gradientRowsFitting(length, qkFix);
        if (fit < 1) {
            throw overBudget(
                    model,
                    length,
                    model.device().budget().gradientRowBytes(length, qkFix),
                    method + "'s forward and backward" + (qkFix ? " with the QK fix" : ""));
        }
        return Math.min(batchRows, fit);
    }

    private static RequestException overBudget(ServedModel model, int length, long rowBytes, String pass) {
        return RequestException.tooLarge(String.format(
                "pairs: one prompt of %d tokens needs about %.2f GB for %s, over the server's memory budget of"
                        + " %.2f GB per batch (--memory-budget); use shorter prompts",
                length, rowBytes / 1e9, pass, model.device().memoryBudget() / 1e9));
    }

    public ServedModel model(String name) throws RequestException {
        ServedModel model = models.get(name);
        if (model == null) {
            throw new RequestException(
                    Status.Code.NOT_FOUND,
                    "model: no model named '" + name + "' is loaded; loaded are " + models.keySet());
        }
        return model;
    }

    private List<PromptPair> pairs(
            ServedModel model, List<dev.patchbay.proto.v1.PromptPair> in, MetricKind kind, boolean allowUnknown)
            throws RequestException {
        if (in.isEmpty()) {
            throw RequestException.invalid("pairs: at least one prompt pair is needed");
        }
        if (in.size() > limits.maxPairs()) {
            throw RequestException.tooLarge(
                    "pairs: " + in.size() + " pairs exceed the server's limit of " + limits.maxPairs());
        }
        Metric.Kind metricKind = switch (kind) {
            case LOGIT_DIFF, METRIC_KIND_UNSPECIFIED -> Metric.Kind.LOGIT_DIFF;
            case LOG_PROB -> Metric.Kind.LOG_PROB;
            case PROB -> Metric.Kind.PROB;
            case KL_DIVERGENCE -> Metric.Kind.KL_DIVERGENCE;
            default -> throw RequestException.invalid("metric: unknown value " + kind);
        };
        List<PromptPair> pairs = new ArrayList<>();
        for (int i = 0; i < in.size(); i++) {
            var p = in.get(i);
            String at = "pairs[" + i + "]";
            int[] clean = prompt(model, p.getClean(), at + ".clean", allowUnknown);
            int[] noise = prompt(model, p.getNoise(), at + ".noise", allowUnknown);
            if (clean.length != noise.length) {
                throw RequestException.invalid(at
                        + ": clean and noise prompts must have the same token length, but clean"
                        + " has " + clean.length + " tokens " + spelled(model, clean) + " and noise has " + noise.length
                        + " " + spelled(model, noise));
            }
            int[] answers = tokens(model, p.getAnswersList(), at + ".answers", allowUnknown);
            int[] wrongs = tokens(model, p.getWrongsList(), at + ".wrongs", allowUnknown);
            if (metricKind != Metric.Kind.KL_DIVERGENCE && answers.length == 0) {
                throw RequestException.invalid(
                        at + ".answers: the " + metricKind.id() + " metric needs at least one answer token");
            }
            if (metricKind == Metric.Kind.LOGIT_DIFF && wrongs.length == 0) {
                throw RequestException.invalid(
                        at + ".wrongs: the logit_diff metric needs at least one wrong-answer token");
            }
            int position = p.hasPosition() ? p.getPosition() : -1;
            if (p.hasPosition() && (position < 0 || position >= clean.length)) {
                throw RequestException.invalid(
                        at + ".position: " + position + " is outside the prompt of " + clean.length + " tokens");
            }
            pairs.add(new PromptPair(clean, noise, new Metric(metricKind, answers, wrongs), position));
        }
        return pairs;
    }

    private int[] prompt(ServedModel model, Prompt prompt, String field, boolean allowUnknown) throws RequestException {
        int[] ids;
        switch (prompt.getInputCase()) {
            case TEXT -> {
                String text = text(prompt.getText(), field + ".text");
                try {
                    TextTokenizer tokenizer = tokenizer(model, field);
                    ids = (allowUnknown ? tokenizer.encode(text) : tokenizer.encodeKnown(text)).ids();
                } catch (IllegalArgumentException e) {
                    throw RequestException.invalid(field + ".text: " + e.getMessage()
                            + " (set allow_unknown_tokens to read it as the unknown token)");
                }
            }
            case IDS -> {
                ids = prompt.getIds().getIdsList().stream()
                        .mapToInt(Integer::intValue)
                        .toArray();
                int vocab = model.config().vocabSize();
                for (int t = 0; t < ids.length; t++) {
                    if (ids[t] < 0 || ids[t] >= vocab) {
                        throw RequestException.invalid(field + ".ids[" + t + "]: token id " + ids[t]
                                + " is outside the vocabulary [0, " + vocab + ")");
                    }
                }
            }
            default -> throw RequestException.invalid(field + ": give text or ids");
        }
        if (ids.length == 0) {
            throw RequestException.invalid(field + ": the prompt has no tokens");
        }
        if (ids.length > limits.maxTokens()) {
            throw RequestException.tooLarge(
                    field + ": " + ids.length + " tokens exceed the server's limit of " + limits.maxTokens());
        }
        // Rotary models can compute past max_position_embeddings, but not as they were trained: refused too.
        int positions = model.config().maxPositions();
        if (ids.length > positions) {
            throw RequestException.invalid(
                    field + ": " + ids.length + " tokens exceed the model's " + positions + " positions");
        }
        return ids;
    }

    private int[] tokens(ServedModel model, List<Token> in, String field, boolean allowUnknown)
            throws RequestException {
        int[] ids = new int[in.size()];
        for (int i = 0; i < ids.length; i++) {
            Token t = in.get(i);
            String at = field + "[" + i + "]";
            switch (t.getTokenCase()) {
                case ID -> {
                    if (t.getId() < 0 || t.getId() >= model.config().vocabSize()) {
                        throw RequestException.invalid(
                                at + ": token id " + t.getId() + " is outside the vocabulary [0, "
                                        + model.config().vocabSize() + ")");
                    }
                    ids[i] = t.getId();
                }
                case TEXT -> {
                    try {
                        ids[i] = tokenizer(model, at).singleToken(text(t.getText(), at + ".text"), allowUnknown);
                    } catch (IllegalArgumentException e) {
                        throw RequestException.invalid(at + ": " + e.getMessage());
                    }
                }
                default -> throw RequestException.invalid(at + ": give text or id");
            }
        }
        return ids;
    }

    private static NodeSet nodes(AttributeRequest r, ModelConfig config, List<PromptPair> pairs)
            throws RequestException {
        var in = r.getNodes();
        if (in.getKindsCount() == 0) {
            throw RequestException.invalid("nodes.kinds: the node set is empty; choose at least one node kind");
        }
        Set<NodeKind> kinds = EnumSet.noneOf(NodeKind.class);
        for (int i = 0; i < in.getKindsCount(); i++) {
            kinds.add(kind(in.getKinds(i), "nodes.kinds[" + i + "]"));
        }
        for (int l : in.getLayersList()) {
            if (l < 0 || l >= config.nLayers()) {
                throw RequestException.invalid(
                        "nodes.layers: layer " + l + " is outside [0, " + config.nLayers() + ")");
            }
        }
        int length = pairs.get(0).length();
        for (int p : in.getPositionsList()) {
            if (p < 0 || p >= length) {
                throw RequestException.invalid(
                        "nodes.positions: position " + p + " is outside the prompt of " + length + " tokens");
            }
        }
        if (in.getPositionsCount() > 0 && !in.getPerPosition()) {
            throw RequestException.invalid("nodes.positions: positions can only be chosen with per_position");
        }
        if (in.getPerPosition()) {
            for (int i = 1; i < pairs.size(); i++) {
                if (pairs.get(i).length() != length) {
                    throw RequestException.invalid("pairs[" + i
                            + "]: per-position nodes need every pair to have the same" + " length (" + length
                            + " tokens), this one has " + pairs.get(i).length());
                }
            }
        }
        return new NodeSet(
                kinds,
                in.getLayersCount() == 0
                        ? null
                        : in.getLayersList().stream().mapToInt(i -> i).toArray(),
                in.getPerPosition(),
                in.getPositionsCount() == 0
                        ? null
                        : in.getPositionsList().stream().mapToInt(i -> i).toArray());
    }

    public static NodeKind kind(dev.patchbay.proto.v1.NodeKind kind, String field) throws RequestException {
        return switch (kind) {
            case QUERY -> NodeKind.QUERY;
            case KEY -> NodeKind.KEY;
            case VALUE -> NodeKind.VALUE;
            case HEAD_OUTPUT -> NodeKind.HEAD_OUTPUT;
            case NEURON -> NodeKind.NEURON;
            case ATTN_OUT -> NodeKind.ATTN_OUT;
            case MLP_OUT -> NodeKind.MLP_OUT;
            case RESIDUAL -> NodeKind.RESIDUAL;
            default -> throw RequestException.invalid(field + ": unknown node kind " + kind);
        };
    }

    public static TextTokenizer tokenizer(ServedModel model, String field) throws RequestException {
        if (model.loaded().tokenizer() == null) {
            throw RequestException.invalid(
                    field + ": model '" + model.loaded().name() + "' has no tokenizer; give token ids");
        }
        return model.loaded().tokenizer();
    }

    /**
     * A node of a Patch group: given by kind, layer, unit and position, or by its name alone (kind unset:
     * {@code {"name": "L2H2"}}, handy from grpcurl); a name given with a kind must agree with it.
     */
    private static dev.patchbay.nodes.Node groupNode(Node node, String field) throws RequestException {
        if (node.getKind() == dev.patchbay.proto.v1.NodeKind.NODE_KIND_UNSPECIFIED
                && !node.getName().isEmpty()) {
            try {
                return dev.patchbay.nodes.Node.parse(node.getName());
            } catch (IllegalArgumentException e) {
                throw RequestException.invalid(field + ".name: " + e.getMessage());
            }
        }
        var parsed = new dev.patchbay.nodes.Node(
                kind(node.getKind(), field + ".kind"), node.getLayer(), node.getUnit(), node.getPosition());
        if (!node.getName().isEmpty() && !sameNode(node.getName(), parsed)) {
            throw RequestException.invalid(field + ": name '" + node.getName() + "' does not match kind, layer, unit"
                    + " and position (" + parsed.name() + ")");
        }
        return parsed;
    }

    private static boolean sameNode(String name, dev.patchbay.nodes.Node node) {
        try {
            return dev.patchbay.nodes.Node.parse(name).equals(node);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * The metric as events report it, its tokens spelled as text where the model has a tokenizer
     * ({@code logit_diff(answers=[" Mary"], wrongs=[" John"])}), else as ids; of the first pair for a distribution.
     */
    public static String metricText(ServedModel model, List<PromptPair> pairs) {
        TextTokenizer tokenizer = model.loaded().tokenizer();
        Metric metric = pairs.get(0).metric();
        return tokenizer == null ? metric.describe() : metric.describe(id -> '"' + tokenizer.decode(id) + '"');
    }

    private static String spelled(ServedModel model, int[] ids) {
        if (model.loaded().tokenizer() == null) {
            return Arrays.toString(ids);
        }
        List<String> out = new ArrayList<>();
        for (int id : ids) {
            out.add(model.loaded().tokenizer().decode(id));
        }
        return out.toString();
    }
}
