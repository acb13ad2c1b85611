package dev.patchbay.operations;

import dev.patchbay.generation.Generation;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.passes.PassRunner;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;

/**
 * Continues prompts (greedy or seeded sampling, with a KV cache) with interventions at any hook site and patches from
 * source prompts, streaming each token: the Generate use-case and {@code patchbay generate}.
 */
public final class Generate {
    /** New tokens per prompt when a request gives none. */
    public static final int DEFAULT_MAX_NEW_TOKENS = 16;

    /** The most alternatives a token may report. */
    public static final int MAX_ALTERNATIVES = 20;

    /**
     * The most interventions and patches one request may carry together: each is applied at every step, and 10,000
     * were accepted before.
     */
    public static final int MAX_INTERVENTIONS = 256;

    /** The operation's name in events. */
    public static final String METHOD = "generate";

    private Generate() {}

    /**
     * A generation request; zeros take the defaults.
     *
     * @param maxNewTokens at least 1; 0 takes {@link #DEFAULT_MAX_NEW_TOKENS}
     * @param stop tokens that end a continuation, beside the model's end-of-text tokens
     * @param ignoreEos go on past the model's end-of-text tokens (transformers stops there, and so does this unless
     *     told)
     * @param temperature 0 for greedy
     * @param topK 0 for all tokens
     * @param topP 0 or 1 for all tokens
     * @param topAlternatives the most likely tokens each step reports beside the one chosen
     * @param watch tokens whose log-probability each step reports
     */
    public record Request(
            List<int[]> prompts,
            List<Generation.Steer> steers,
            List<Generation.PatchFrom> patches,
            int maxNewTokens,
            int[] stop,
            boolean ignoreEos,
            double temperature,
            int topK,
            double topP,
            long seed,
            int topAlternatives,
            int[] watch) {
        public Request {
            prompts = List.copyOf(prompts);
            steers = List.copyOf(steers);
            patches = List.copyOf(patches);
            stop = stop == null ? new int[0] : stop.clone();
            watch = watch == null ? new int[0] : watch.clone();
        }
    }

    /** A checked request and the settings it runs with. */
    /**
     * A checked request, the settings it runs with, the bytes its KV caches keep across its steps (reserved for its
     * life where a server shares its memory) and the bytes of its largest step (the first, whole prompts).
     */
    public record Plan(Request request, Generation.Settings settings, long keptBytes, long stepBytes) {
        public Accepted accepted() {
            return new Accepted(
                    request.prompts().size(),
                    "prompts",
                    (double) request.prompts().size() * settings.maxNewTokens(),
                    METHOD);
        }
    }

    /**
     * A token as it is generated, with the log-probabilities of the watched tokens (in the request's order) and the
     * most likely alternatives (most likely first).
     */
    public record Token(Generation.Token token, double[] watched, int[] alternatives, double[] logProbs) {}

    /** A prompt's continuation, and whether a stop token ended it (else max_new_tokens did). */
    public record Continuation(int prompt, int[] ids, boolean stopped) {}

    /** What the operation tells as it runs, in order. */
    public interface Events {
        void accepted(Accepted accepted);

        void token(Token token);

        void continuation(Continuation continuation);

        void summary(Summary summary);
    }

    /** Refuses more interventions and patches than {@link #MAX_INTERVENTIONS} (before a front end builds any). */
    public static void checkInterventionCount(int count) {
        if (count > MAX_INTERVENTIONS) {
            throw InvalidRequest.invalid("interventions: " + count + " interventions and patches, over the limit of "
                    + MAX_INTERVENTIONS + " a request");
        }
    }

    /** The new tokens a request asks for: 0 takes {@link #DEFAULT_MAX_NEW_TOKENS}. */
    public static int newTokens(int requested) {
        return requested == 0 ? DEFAULT_MAX_NEW_TOKENS : requested;
    }

    /**
     * Refuses a steer's given positions that no sequence of this request reaches (the longest prompt and its new
     * tokens); {@code field} names it as the caller does.
     */
    public static void checkReach(Generation.Steer steer, String field, List<int[]> prompts, int maxNewTokens) {
        long longest = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
        Interventions.checkReach(steer, field, longest, newTokens(maxNewTokens));
    }

    /** Refuses no prompts, or more than the limit (a front end may ask this before tokenizing any). */
    public static void checkPromptCount(int prompts, Serving on) {
        Checks.count(prompts, "prompts", "prompt", on);
    }

    public static Plan plan(Request request, Serving on) {
        checkPromptCount(request.prompts().size(), on);
        checkInterventionCount(request.steers().size() + request.patches().size());
        for (int i = 0; i < request.steers().size(); i++) {
            Interventions.check(request.steers().get(i), "steers[" + i + "]", on);
        }
        for (int i = 0; i < request.patches().size(); i++) {
            Interventions.check(request.patches().get(i), "patches[" + i + "]", request.prompts(), on);
        }
        int newTokens = newTokens(request.maxNewTokens());
        if (newTokens < 0) {
            throw InvalidRequest.invalid("max_new_tokens: at least 1 (0 takes " + DEFAULT_MAX_NEW_TOKENS + "), got "
                    + request.maxNewTokens());
        }
        long longest = request.prompts().stream().mapToInt(p -> p.length).max().orElse(0);
        checkPositions(longest, newTokens, on);
        for (int i = 0; i < request.steers().size(); i++) {
            Interventions.checkReach(request.steers().get(i), "steers[" + i + "]", longest, newTokens);
        }
        int prompts = request.prompts().size();
        boolean onAttentionMaps = request.steers().stream()
                        .anyMatch(s -> HookSites.layoutOf(s.change().site()) == SiteLayout.ATTENTION_MAP)
                || request.patches().stream().anyMatch(p -> HookSites.layoutOf(p.site()) == SiteLayout.ATTENTION_MAP);
        long bytes = on.budget().generationBytes(prompts, (int) (longest + newTokens), onAttentionMaps);
        long kept = on.budget().kvCacheBytes(prompts, (int) (longest + newTokens));
        if (bytes > on.budget().bytes()) {
            throw InvalidRequest.tooLarge(String.format(
                    Locale.ROOT,
                    "prompts: %d prompts of up to %d tokens need about %.2f GB (their KV cache and first step), over"
                            + " the server's memory budget of %.2f GB; send fewer prompts or fewer new tokens",
                    prompts,
                    longest + newTokens,
                    bytes / 1e9,
                    on.budget().bytes() / 1e9));
        }
        // Each step is a pass, and each patch's source a forward: charge them as patched runs.
        double sourceRuns =
                request.patches().stream().mapToDouble(p -> p.sources().size()).sum();
        Checks.withinRuns(
                (double) prompts * newTokens + sourceRuns,
                (sourceRuns > 0 ? "patches: " + (long) sourceRuns + " source runs and " : "max_new_tokens: ") + prompts
                        + " prompts x " + newTokens + " steps exceed the server's limit of "
                        + on.limits().maxPatchedRuns() + " runs",
                on);
        double temperature = Checks.finite(request.temperature(), "temperature");
        if (temperature < 0) {
            throw InvalidRequest.invalid("temperature: 0 (greedy) or positive, got " + temperature);
        }
        if (request.topK() < 0) {
            throw InvalidRequest.invalid("top_k: 0 (all) or positive, got " + request.topK());
        }
        double topP = Checks.finite(request.topP(), "top_p");
        if (topP < 0 || topP > 1) {
            throw InvalidRequest.invalid("top_p: in [0, 1] (0 or 1: all), got " + topP);
        }
        if (request.topAlternatives() < 0 || request.topAlternatives() > MAX_ALTERNATIVES) {
            throw InvalidRequest.invalid(
                    "top_alternatives: in [0, " + MAX_ALTERNATIVES + "], got " + request.topAlternatives());
        }
        return new Plan(
                request,
                new Generation.Settings(
                        newTokens, stopTokens(request, on), temperature, request.topK(), topP, request.seed()),
                kept,
                bytes - kept);
    }

    /** The request's stop tokens and, unless it ignores them, the model's end-of-text tokens. */
    private static int[] stopTokens(Request request, Serving on) {
        IntStream endOfText = request.ignoreEos()
                ? IntStream.empty()
                : on.config().endOfText().stream().mapToInt(Integer::intValue);
        return IntStream.concat(Arrays.stream(request.stop()), endOfText)
                .distinct()
                .toArray();
    }

    /**
     * A continuation stays within the server's token limit and the model's trained positions, for every family: a
     * learned table has no row beyond them, and a rotary model generating past them (dynamic NTK rescaling included)
     * continues where transformers' own cached generation already departs from the model's forward.
     */
    private static void checkPositions(long longest, int newTokens, Serving on) {
        long total = longest + newTokens;
        int positions = on.config().maxPositions();
        if (positions > 0 && total > positions) {
            throw InvalidRequest.invalid("max_new_tokens: a prompt of " + longest + " tokens and " + newTokens
                    + " new ones make " + total + " positions, beyond the model's " + positions
                    + " (max_position_embeddings); at most " + Math.max(0, positions - longest) + " new tokens");
        }
        if (total > on.limits().maxTokens()) {
            throw InvalidRequest.invalid("max_new_tokens: a prompt of " + longest + " tokens and " + newTokens
                    + " new ones make " + total + " tokens, over the server's limit of "
                    + on.limits().maxTokens()
                    + " (--max-tokens); at most " + Math.max(0, on.limits().maxTokens() - longest) + " new tokens");
        }
    }

    /** Runs a plan and gives each prompt's continuation. */
    public static List<int[]> run(PassRunner runner, Plan plan, Events events) {
        long start = System.nanoTime();
        Request request = plan.request();
        events.accepted(plan.accepted());
        int[] steps = {0};
        boolean detail = request.topAlternatives() > 0 || request.watch().length > 0;
        PassRunner.Retained caches;
        try {
            caches = runner.retain(plan.keptBytes(), plan.stepBytes());
        } catch (PassRunner.RetainedMemoryRefused e) {
            throw InvalidRequest.tooLarge("prompts: their KV caches, " + e.getMessage()
                    + "; retry when other generations end, or send fewer prompts or new tokens");
        }
        List<int[]> out;
        try (caches) {
            out = Generation.run(runner, request.prompts(), request.steers(), request.patches(), plan.settings(), t -> {
                steps[0]++;
                if (!detail) {
                    events.token(new Token(t, new double[0], new int[0], null));
                    return;
                }
                double[] logProbs = t.logProbs();
                double[] watched = Arrays.stream(request.watch())
                        .mapToDouble(w -> logProbs[w])
                        .toArray();
                events.token(new Token(t, watched, mostLikely(logProbs, request.topAlternatives()), logProbs));
            });
        }
        for (int p = 0; p < out.size(); p++) {
            int[] ids = out.get(p);
            boolean stopped = ids.length > 0 && contains(plan.settings().stopTokens(), ids[ids.length - 1]);
            events.continuation(new Continuation(p, ids, stopped));
        }
        events.summary(new Summary(
                METHOD,
                request.prompts().size(),
                Double.NaN,
                Double.NaN,
                new dev.patchbay.nodes.Cost(steps[0], Double.NaN, (System.nanoTime() - start) / 1e9),
                runner.tally()));
        return out;
    }

    /** The {@code k} largest entries' indices, largest first (ties: the lower index first), by selection. */
    static int[] mostLikely(double[] values, int k) {
        k = Math.min(k, values.length);
        int[] top = new int[k];
        int size = 0;
        for (int i = 0; i < values.length && k > 0; i++) {
            if (size == k && !(values[i] > values[top[k - 1]])) {
                continue;
            }
            int at = size < k ? size++ : k - 1;
            while (at > 0 && values[i] > values[top[at - 1]]) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = i;
        }
        return top;
    }

    private static boolean contains(int[] ids, int id) {
        for (int s : ids) {
            if (s == id) {
                return true;
            }
        }
        return false;
    }
}
