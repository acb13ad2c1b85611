package dev.patchbay.operations;

import dev.patchbay.attribution.FeaturePatching;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.features.Dictionaries;
import dev.patchbay.features.Dictionary;
import dev.patchbay.features.FeatureEdges;
import dev.patchbay.features.FeatureEstimates;
import dev.patchbay.features.FeatureNode;
import dev.patchbay.model.HookSites;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.FeatureEdgePatchWork;
import dev.patchbay.passes.FeatureEdgeWork;
import dev.patchbay.passes.FeatureGradientWork;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Scores the feature and error nodes of the dictionaries spliced into a model by AtP or AtP* (issue 33), streaming a
 * sparse block per pair and dictionary (only features whose activation differs between the clean and the noise run
 * can have a nonzero effect), then, if asked, verifies the top nodes by exact feature patching and bounds the effects
 * of the rest with the false-negative diagnostic, per dictionary: the AttributeFeatures use-case and
 * {@code patchbay attribute --features}.
 */
public final class AttributeFeatures {
    /** The method when a request names none. */
    public static final String DEFAULT_METHOD = "atp-star";

    /** The methods offered over features: AtP, AtP*, and integrated gradients along the features ("ig"). */
    public static final List<String> METHODS = List.of("atp", "atp-star", "ig");

    /** Integrated gradients' steps when a request gives none: feature-circuits' default. */
    public static final int DEFAULT_IG_STEPS = 10;

    private AttributeFeatures() {}

    /**
     * A feature attribution request in the engine's terms; zeros and nulls take the defaults.
     *
     * @param dictionaries the dictionaries whose features are scored, by name; empty for every one the model has
     * @param method "atp", "atp-star" or "ig"; null takes {@link #DEFAULT_METHOD}
     * @param verifyTopK nodes to verify by exact feature patching, largest |mean estimate| first; 0 for none
     * @param igSteps integrated gradients' steps; 0 takes {@link #DEFAULT_IG_STEPS} (only with "ig")
     * @param edgeNodes for each pair of dictionaries (one writing before the other reads) and each prompt pair, the
     *     downstream features of largest |AtP| whose incoming edges EAP estimates; 0 for no edges
     * @param verifyEdges of each such set of edges, the largest to verify by exact edge patching
     */
    public record Request(
            List<PromptPair> pairs,
            List<String> dictionaries,
            String method,
            int verifyTopK,
            DiagnosticOptions diagnostic,
            int igSteps,
            int edgeNodes,
            int verifyEdges) {
        public Request {
            pairs = List.copyOf(pairs);
            dictionaries = dictionaries == null ? List.of() : List.copyOf(dictionaries);
            diagnostic = diagnostic == null ? DiagnosticOptions.OFF : diagnostic;
        }

        /** A request with integrated gradients' default steps. */
        public Request(
                List<PromptPair> pairs,
                List<String> dictionaries,
                String method,
                int verifyTopK,
                DiagnosticOptions diagnostic) {
            this(pairs, dictionaries, method, verifyTopK, diagnostic, 0, 0, 0);
        }

        public String methodId() {
            return method == null || method.isEmpty() ? DEFAULT_METHOD : method;
        }
    }

    /**
     * A checked request and how it runs.
     *
     * @param igSteps integrated gradients' steps, 0 for AtP and AtP*
     * @param gradientRows pairs per gradient pass, sized to the memory budget
     * @param patchRows patched runs per batch (verification and the diagnostic)
     * @param nodeCount feature and error nodes the dictionaries have at the pairs' positions (the most that can be
     *     scored; only changed features are)
     */
    public record Plan(
            Request request,
            List<Dictionary> dictionaries,
            boolean gradDrop,
            int igSteps,
            int gradientRows,
            int patchRows,
            int verify,
            long nodeCount,
            double plannedForwardPasses,
            FalseNegativeDiagnostic.Settings diagnostic,
            List<List<Dictionary>> edgePairs) {
        public Accepted accepted() {
            return new Accepted(nodeCount, "features", plannedForwardPasses, request.methodId());
        }
    }

    /** One pair's estimates over one dictionary, whose feature nodes are of {@code site} (short name) in {@code layer}. */
    public record Block(int pair, String dictionary, int layer, String site, FeatureEstimates.Block block) {}

    /**
     * EAP's edges from one dictionary's features into another's top downstream features, for one prompt pair, largest
     * |estimate| first; {@code effects[i]} is edge i's exact effect where it was verified (the first ones), else NaN.
     */
    public record EdgeBlock(int pair, FeatureEdges edges, double[] effects) {}

    /** A node's mean estimate over the pairs. */
    public record Scored(String dictionary, FeatureNode node, double estimate) {}

    /** A top node's mean estimate and its effect by exact patching (the mean over pairs). */
    public record Verified(int rank, String dictionary, FeatureNode node, double estimate, double effect) {}

    /** The diagnostic over one dictionary's unverified nodes. */
    public record Diagnostic(String dictionary, FalseNegativeDiagnostic.Report<FeatureNode> report) {}

    /** What the operation tells as it runs, in order. */
    public interface Events {
        void accepted(Accepted accepted);

        void block(Block block);

        /** Work done of {@code total} in the stage's own unit ("scoring": pairs, then "verifying": nodes). */
        void progress(String stage, long done, long total);

        void verified(Verified verified);

        void diagnostic(Diagnostic diagnostic);

        /** Feature edges, where the request asked for them (before the summary); ignored by default. */
        default void edges(EdgeBlock block) {}

        void summary(Summary summary);
    }

    /** Every scored node, largest |estimate| first, and what the operation cost. */
    public record Result(List<Scored> scored, List<Verified> verified, Cost cost) {}

    /**
     * Checks {@code request} against the model, its dictionaries, its budget and the limits; refuses with the field
     * at fault.
     */
    public static Plan plan(Request request, Serving on, Dictionaries loaded) {
        List<PromptPair> pairs = request.pairs();
        if (pairs.isEmpty()) {
            throw InvalidRequest.invalid("pairs: at least one prompt pair is needed");
        }
        String id = request.methodId();
        if (!METHODS.contains(id)) {
            throw InvalidRequest.invalid("method: '" + id + "' is not offered over features; offered are " + METHODS);
        }
        Checks.gradientMetric(pairs, id);
        try {
            PairBatch.validate(pairs, NodeSet.heads(), on.config());
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.invalid(e.getMessage());
        }
        if (loaded.isEmpty()) {
            throw InvalidRequest.invalid(
                    "dictionaries: the model has none spliced in; serve it with" + " --dictionary NAME=DIR@SITE");
        }
        List<Dictionary> dictionaries = new ArrayList<>();
        if (request.dictionaries().isEmpty()) {
            dictionaries.addAll(loaded.all());
        } else {
            for (String name : request.dictionaries()) {
                Dictionary d = loaded.get(name);
                if (d == null) {
                    throw InvalidRequest.invalid("dictionaries: no dictionary '" + name + "'; the model has "
                            + loaded.all().stream().map(Dictionary::name).toList());
                }
                if (!dictionaries.contains(d)) {
                    dictionaries.add(d);
                }
            }
        }
        boolean gradDrop = id.equals("atp-star");
        if (request.igSteps() != 0 && !id.equals("ig")) {
            throw InvalidRequest.invalid("ig_steps: only with the method ig, not " + id);
        }
        int igSteps = id.equals("ig") ? Checks.igSteps(request.igSteps(), DEFAULT_IG_STEPS) : 0;
        if (igSteps == 1) {
            throw InvalidRequest.invalid("ig_steps: integrated gradients take at least 2 steps (1 is atp)");
        }
        FeatureGradientWork probe;
        try {
            probe = new FeatureGradientWork(pairs.subList(0, 1), dictionaries, gradDrop, igSteps);
        } catch (IllegalArgumentException e) {
            throw InvalidRequest.invalid("dictionaries: " + e.getMessage());
        }
        int length = pairs.stream().mapToInt(PromptPair::length).max().orElseThrow();
        int gradientRows = Checks.rowsFitting(
                on,
                pairs,
                probe.bytes(on.config(), on.budget().elementBytes(), length),
                id + "'s forward and backward over " + dictionaries.size() + " dictionaries");
        long nodes = 0;
        for (Dictionary d : dictionaries) {
            nodes += (long) (d.width() + 1) * length;
        }
        if (request.verifyTopK() > 0) {
            for (int i = 1; i < pairs.size(); i++) {
                if (pairs.get(i).length() != pairs.get(0).length()) {
                    throw InvalidRequest.invalid("pairs[" + i + "]: verification patches a feature at a position of"
                            + " every pair, so every pair needs the first's length ("
                            + pairs.get(0).length()
                            + " tokens); this one has " + pairs.get(i).length());
                }
            }
        }
        long verify = Checks.verifyCount(request.verifyTopK(), 0, nodes, pairs);
        int patchRows = verify > 0 ? Checks.patchRows(on, pairs) : on.limits().batchRows();
        int layers = on.config().nLayers();
        double planned = pairs.size()
                * (gradDrop ? 2 + 2.0 * layers : 4.0 + 3.0 * Math.max(0, igSteps - 1) * dictionaries.size());
        // Each dictionary's verification runs every pair's clean and noise passes, then one run per node and pair.
        planned += verify > 0 ? pairs.size() * (2.0 * dictionaries.size() + verify) : 0;
        Checks.withinRuns(
                planned,
                "verify_top_k: " + (long) Math.ceil(planned / pairs.size()) + " runs for each of " + pairs.size()
                        + " pairs exceed the server's limit of " + on.limits().maxPatchedRuns(),
                on);
        FalseNegativeDiagnostic.Settings diagnostic =
                Checks.diagnostic(request.diagnostic(), verify, nodes, pairs, "features", on);
        if (diagnostic != null) {
            planned += (double) diagnostic.samples() * pairs.size() * dictionaries.size();
        }
        List<List<Dictionary>> edgePairs = edgePairs(request, dictionaries, on);
        // Per prompt pair and pair of dictionaries: two forwards and a backward, a backward per downstream node, and
        // for verification the clean and noise runs and two forwards per edge.
        planned += (double) pairs.size()
                * edgePairs.size()
                * (4 + 2.0 * request.edgeNodes() + (request.verifyEdges() > 0 ? 2 + 2.0 * request.verifyEdges() : 0));
        return new Plan(
                request,
                dictionaries,
                gradDrop,
                igSteps,
                gradientRows,
                patchRows,
                (int) verify,
                nodes,
                planned,
                diagnostic,
                edgePairs);
    }

    /** Most downstream nodes a request may ask EAP edges into: one backward each, per prompt pair. */
    static final int MAX_EDGE_NODES = 64;

    /**
     * The ordered pairs of dictionaries (upstream writes before downstream reads) whose edges the request asks for,
     * checked against the limits and the memory budget; empty where it asks for none.
     */
    private static List<List<Dictionary>> edgePairs(Request request, List<Dictionary> dictionaries, Serving on) {
        if (request.edgeNodes() < 0 || request.edgeNodes() > MAX_EDGE_NODES) {
            throw InvalidRequest.invalid(
                    "edge_nodes: between 0 and " + MAX_EDGE_NODES + ", got " + request.edgeNodes());
        }
        if (request.verifyEdges() < 0) {
            throw InvalidRequest.invalid("verify_edges: must not be negative, got " + request.verifyEdges());
        }
        if (request.edgeNodes() == 0) {
            if (request.verifyEdges() > 0) {
                throw InvalidRequest.invalid("verify_edges: needs edges (edge_nodes > 0)");
            }
            return List.of();
        }
        List<String> order = HookSites.all(on.config());
        List<List<Dictionary>> out = new ArrayList<>();
        for (Dictionary up : dictionaries) {
            for (Dictionary down : dictionaries) {
                if (order.indexOf(up.site()) < order.indexOf(down.inputSite())) {
                    out.add(List.of(up, down));
                }
            }
        }
        if (out.isEmpty()) {
            throw InvalidRequest.invalid("edge_nodes: edges join two dictionaries, one writing before the other reads;"
                    + " the request's dictionaries have no such pair");
        }
        for (List<Dictionary> pair : out) {
            Checks.rowsFitting(
                    on,
                    request.pairs(),
                    new FeatureEdgeWork(request.pairs().get(0), pair.get(0), pair.get(1), request.edgeNodes())
                            .bytes(
                                    on.config(),
                                    on.budget().elementBytes(),
                                    request.pairs().get(0).length()),
                    "feature edges from " + pair.get(0).name() + " to "
                            + pair.get(1).name());
        }
        return out;
    }

    /** Runs a plan: the gradient passes, then verification and the diagnostic; every pass through {@code runner}. */
    public static Result run(PassRunner runner, Plan plan, Events events) {
        List<PromptPair> pairs = plan.request().pairs();
        events.accepted(plan.accepted());
        Map<String, Sums> sums = new LinkedHashMap<>();
        plan.dictionaries().forEach(d -> sums.put(d.name(), new Sums(d)));
        Cost cost = new Cost(0, 0, 0);
        double clean = 0;
        double noise = 0;
        int done = 0;
        for (List<PromptPair> batch : PairBatch.split(pairs, plan.gradientRows())) {
            FeatureEstimates estimates =
                    runner.run(new FeatureGradientWork(batch, plan.dictionaries(), plan.gradDrop(), plan.igSteps()));
            cost = cost.plus(estimates.cost());
            for (FeatureEstimates.Pair pair : estimates.pairs()) {
                clean += pair.cleanMetric() / pairs.size();
                noise += pair.noiseMetric() / pairs.size();
                for (Dictionary d : plan.dictionaries()) {
                    FeatureEstimates.Block block = pair.byDictionary().get(d.name());
                    sums.get(d.name()).add(block);
                    events.block(new Block(done, d.name(), d.layer(), d.shortSite(), block));
                }
                done++;
            }
            events.progress("scoring", done, pairs.size());
        }
        List<Scored> scored = new ArrayList<>();
        sums.values().forEach(s -> s.scored(pairs.size(), scored));
        scored.sort(Comparator.comparingDouble((Scored s) -> -Math.abs(s.estimate())));
        List<Verified> verified = new ArrayList<>();
        if (plan.verify() > 0) {
            cost = cost.plus(verify(runner, plan, scored, verified, events));
        }
        for (int p = 0; p < pairs.size(); p++) {
            for (List<Dictionary> edgePair : plan.edgePairs()) {
                cost = cost.plus(edges(runner, plan, p, edgePair.get(0), edgePair.get(1), events));
            }
        }
        events.summary(new Summary(
                plan.request().methodId(), pairs.size(), clean, noise, cost, runner.tally(), plan.gradDrop()));
        return new Result(scored, verified, cost);
    }

    /** One prompt pair's EAP edges from {@code up} to {@code down}, the largest verified, streamed as one block. */
    private static Cost edges(PassRunner runner, Plan plan, int p, Dictionary up, Dictionary down, Events events) {
        PromptPair pair = plan.request().pairs().get(p);
        FeatureEdges edges =
                runner.run(new FeatureEdgeWork(pair, up, down, plan.request().edgeNodes()));
        int verify = Math.min(plan.request().verifyEdges(), edges.edges().size());
        double[] effects = new double[edges.edges().size()];
        Arrays.fill(effects, Double.NaN);
        Cost cost = edges.cost();
        if (verify > 0) {
            double[] exact = runner.run(new FeatureEdgePatchWork(
                    pair, up, down, edges.edges().subList(0, verify), Math.max(1, plan.patchRows())));
            System.arraycopy(exact, 0, effects, 0, verify);
            // The pair's clean and noise runs, then two forwards per edge.
            cost = cost.plus(new Cost(2 + 2.0 * verify, 2 + 2.0 * verify, 0));
        }
        events.edges(new EdgeBlock(p, edges, effects));
        return cost;
    }

    /**
     * Verifies the top nodes, a session per dictionary (each node is patched alone, in rank order within its
     * dictionary), then runs the diagnostic over each dictionary's scored nodes left unverified.
     */
    private static Cost verify(
            PassRunner runner, Plan plan, List<Scored> scored, List<Verified> verified, Events events) {
        List<PromptPair> pairs = plan.request().pairs();
        List<Scored> top = scored.subList(0, Math.min(plan.verify(), scored.size()));
        Map<String, List<Integer>> ranksByDictionary = new LinkedHashMap<>();
        for (int r = 0; r < top.size(); r++) {
            ranksByDictionary
                    .computeIfAbsent(top.get(r).dictionary(), k -> new ArrayList<>())
                    .add(r);
        }
        Cost cost = new Cost(0, 0, 0);
        for (Dictionary d : plan.dictionaries()) {
            List<Integer> ranks = ranksByDictionary.getOrDefault(d.name(), List.of());
            if (ranks.isEmpty() && plan.diagnostic() == null) {
                continue;
            }
            try (FeaturePatching patching = new FeaturePatching(runner, pairs, d, plan.patchRows())) {
                List<List<FeatureNode>> groups =
                        ranks.stream().map(r -> List.of(top.get(r).node())).toList();
                patching.patch(groups, (i, effect, perPair) -> {
                    Scored s = top.get(ranks.get(i));
                    Verified v = new Verified(ranks.get(i) + 1, d.name(), s.node(), s.estimate(), effect);
                    verified.add(v);
                    events.verified(v);
                    events.progress("verifying", verified.size(), top.size());
                });
                if (plan.diagnostic() != null) {
                    Set<FeatureNode> done = new HashSet<>();
                    ranks.forEach(r -> done.add(top.get(r).node()));
                    List<FeatureNode> rest = scored.stream()
                            .filter(s -> s.dictionary().equals(d.name()) && !done.contains(s.node()))
                            .map(Scored::node)
                            .toList();
                    double largest = verified.stream()
                            .mapToDouble(v -> Math.abs(v.effect()))
                            .max()
                            .orElse(0);
                    FalseNegativeDiagnostic.Settings settings =
                            plan.diagnostic().threshold() != 0
                                    ? plan.diagnostic()
                                    : new FalseNegativeDiagnostic.Settings(
                                            plan.diagnostic().samples(),
                                            plan.diagnostic().inclusionProbability(),
                                            plan.diagnostic().alpha(),
                                            largest / 10,
                                            plan.diagnostic().seed());
                    events.diagnostic(new Diagnostic(d.name(), FalseNegativeDiagnostic.run(rest, patching, settings)));
                }
                cost = cost.plus(patching.cost());
            }
        }
        return cost;
    }

    /**
     * One dictionary's estimates summed over pairs: per (position, feature) for the features that changed in some
     * pair, and the error node's per position. Pairs of different lengths add to the positions they have.
     */
    private static final class Sums {
        final Dictionary dictionary;
        final Map<Long, Double> features = new HashMap<>();
        double[] errors = new double[0];

        Sums(Dictionary dictionary) {
            this.dictionary = dictionary;
        }

        void add(FeatureEstimates.Block block) {
            for (int e = 0; e < block.size(); e++) {
                long key = (long) block.positions()[e] * dictionary.width() + block.features()[e];
                features.merge(key, block.estimates()[e], Double::sum);
            }
            if (errors.length < block.errors().length) {
                errors = Arrays.copyOf(errors, block.errors().length);
            }
            for (int t = 0; t < block.errors().length; t++) {
                errors[t] += block.errors()[t];
            }
        }

        void scored(int pairs, List<Scored> out) {
            int layer = dictionary.layer();
            String site = dictionary.shortSite();
            features.forEach((key, sum) -> out.add(new Scored(
                    dictionary.name(),
                    new FeatureNode(layer, site, (int) (key % dictionary.width()), (int) (key / dictionary.width())),
                    sum / pairs)));
            for (int t = 0; t < errors.length; t++) {
                out.add(new Scored(
                        dictionary.name(), new FeatureNode(layer, site, FeatureNode.ERROR, t), errors[t] / pairs));
            }
        }
    }
}
