package dev.patchbay.generation;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.Intervention;
import dev.patchbay.model.KvCache;
import dev.patchbay.model.Patch;
import dev.patchbay.model.SiteLayout;
import dev.patchbay.nodes.Ablation;
import dev.patchbay.passes.ForwardPass;
import dev.patchbay.passes.GenerationStep;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * Generates continuations of prompts, one token per step for every unfinished prompt at once, with interventions
 * applied at every step where they match (steering; issue 18). With the KV cache (the default), prompts of one
 * length share a cache: the first step runs their prompts whole, each later step only the new tokens of every
 * prompt in one batch, each against its own cache's keys and values, which hold what the interventions made of the
 * earlier positions, so a change at an early position reaches later steps as it would without a cache (an
 * intervention on attention scores or patterns keeps each cache's steps apart: their key axes differ). Without it,
 * every step recomputes every sequence whole (the oracle the cache is tested against). Greedy where the
 * temperature is 0, else sampled (temperature, top-k, top-p) from one generator per prompt seeded from the seed and
 * the prompt's index, so a prompt's sample does not depend on what it is batched with.
 */
public final class Generation {
    private Generation() {}

    /** Which positions of a sequence an intervention reaches. */
    public enum Positions {
        ALL,
        PROMPT,
        GENERATED,
        /** The intervention's own positions (those within the sequence so far). */
        GIVEN
    }

    /** An intervention (its row is ignored: it applies to every prompt) and the positions it reaches. */
    public record Steer(Intervention change, Positions where) {}

    /**
     * Activation patching during generation: at {@code site}, an activation from source prompts replaces the prompt's
     * at the source's positions (all of them, or the given heads or neurons), as {@code Attribute}'s patching does;
     * generated positions are not patched. A source may not be longer than any prompt. Where the activation comes
     * from is an {@link Ablation}: the one source prompt ({@link Ablation#NOISE_PROMPT}), the sources' mean (of one
     * length) at each position, or one source per generated prompt drawn with the seed; zero is an intervention.
     */
    public record PatchFrom(String site, List<int[]> sources, Ablation kind, int[] units, long seed) {
        public PatchFrom {
            if (sources.isEmpty()) {
                throw new IllegalArgumentException("a patch needs at least one source prompt");
            }
            if (kind == Ablation.ZERO) {
                throw new IllegalArgumentException(
                        "a patch takes its activation from a source; zero is an intervention");
            }
            if (kind == Ablation.NOISE_PROMPT && sources.size() != 1) {
                throw new IllegalArgumentException("a patch from one prompt has one source, not " + sources.size());
            }
            sources = List.copyOf(sources);
        }

        /** From one prompt. */
        public PatchFrom(String site, int[] source, int[] units) {
            this(site, List.of(source), Ablation.NOISE_PROMPT, units, 0);
        }
    }

    /**
     * @param temperature 0 for greedy
     * @param topK sample among the k most likely tokens; 0 for all
     * @param topP sample among the most likely tokens whose probabilities sum to p; 0 or 1 for all
     * @param stopTokens tokens that end a prompt's continuation (the token is emitted, then it stops)
     * @param cached whether later steps run only their new token against a KV cache
     */
    public record Settings(
            int maxNewTokens, int[] stopTokens, double temperature, int topK, double topP, long seed, boolean cached) {
        public Settings {
            if (maxNewTokens < 1) {
                throw new IllegalArgumentException("max_new_tokens: at least 1, got " + maxNewTokens);
            }
            if (!(temperature >= 0) || !Double.isFinite(temperature)) {
                throw new IllegalArgumentException("temperature: 0 (greedy) or positive, got " + temperature);
            }
            if (topK < 0) {
                throw new IllegalArgumentException("top_k: 0 (all) or positive, got " + topK);
            }
            if (!(topP >= 0 && topP <= 1)) {
                throw new IllegalArgumentException("top_p: in [0, 1] (0 or 1: all), got " + topP);
            }
            stopTokens = stopTokens.clone();
        }

        public Settings(int maxNewTokens, int[] stopTokens, double temperature, int topK, double topP, long seed) {
            this(maxNewTokens, stopTokens, temperature, topK, topP, seed, true);
        }

        public static Settings greedy(int maxNewTokens) {
            return new Settings(maxNewTokens, new int[0], 0, 0, 0, 0);
        }

        /** The same settings, recomputing every step whole when {@code cached} is false. */
        public Settings withCache(boolean on) {
            return new Settings(maxNewTokens, stopTokens, temperature, topK, topP, seed, on);
        }
    }

    /** A generated token: its prompt, its step, its id, its log-probability and the step's logits. */
    public record Token(int prompt, int step, int id, double logProb, double[] logits) {
        /** The step's log-probabilities over the vocabulary. */
        public double[] logProbs() {
            return Sampling.logSoftmax(logits);
        }
    }

    /** Each prompt's continuation; every token is handed to {@code listener} as it is produced. */
    public static List<int[]> run(
            PassRunner runner, List<int[]> prompts, List<Steer> steers, Settings settings, Consumer<Token> listener) {
        return run(runner, prompts, steers, List.of(), settings, listener);
    }

    /** As above, with patches from source prompts. */
    public static List<int[]> run(
            PassRunner runner,
            List<int[]> prompts,
            List<Steer> steers,
            List<PatchFrom> patches,
            Settings settings,
            Consumer<Token> listener) {
        try (NDManager scope = runner.model().compute().newScope()) {
            List<Source> sources = sources(runner, scope, prompts, patches);
            return generate(runner, prompts, steers, sources, settings, listener);
        }
    }

    /** A patch's site, its source activation [T_source, ...] for each generated prompt, and its units. */
    private record Source(String site, NDArray[] perPrompt, int[] units) {}

    private static List<Source> sources(
            PassRunner runner, NDManager scope, List<int[]> prompts, List<PatchFrom> patches) {
        List<Source> out = new ArrayList<>();
        for (int i = 0; i < patches.size(); i++) {
            PatchFrom p = patches.get(i);
            if (HookSites.layoutOf(p.site()) == SiteLayout.ATTENTION_MAP) {
                throw new IllegalArgumentException("patches[" + i + "]: attention maps are not patched during"
                        + " generation (their key axis grows); patch hook_z or hook_q/k/v instead");
            }
            int shortest = prompts.stream().mapToInt(t -> t.length).min().orElse(0);
            List<NDArray> activations = new ArrayList<>();
            for (int[] source : p.sources()) {
                if (source.length > shortest) {
                    throw new IllegalArgumentException("patches[" + i + "]: a source of " + source.length
                            + " tokens is longer than the shortest prompt (" + shortest + ")");
                }
                if (p.kind() == Ablation.MEAN && source.length != p.sources().get(0).length) {
                    throw new IllegalArgumentException(
                            "patches[" + i + "]: a mean over sources needs them of one" + " length");
                }
                activations.add(runner.run(new ForwardPass(scope, source, Set.of(p.site()), false))
                        .sites()
                        .get(p.site())
                        .get(new NDIndex("0")));
            }
            NDArray[] perPrompt = new NDArray[prompts.size()];
            Random draw = new Random(p.seed());
            for (int r = 0; r < perPrompt.length; r++) {
                perPrompt[r] = switch (p.kind()) {
                    case NOISE_PROMPT -> activations.get(0);
                    case MEAN ->
                        r == 0 ? NDArrays.stack(new NDList(activations)).mean(new int[] {0}) : perPrompt[0];
                    case RESAMPLE -> activations.get(draw.nextInt(activations.size()));
                    case ZERO -> throw new IllegalStateException("a patch is never zero: PatchFrom refuses it");
                };
            }
            out.add(new Source(p.site(), perPrompt, p.units()));
        }
        return out;
    }

    private static List<int[]> generate(
            PassRunner runner,
            List<int[]> prompts,
            List<Steer> steers,
            List<Source> sources,
            Settings settings,
            Consumer<Token> listener) {
        int n = prompts.size();
        List<List<Integer>> generated = new ArrayList<>();
        Random[] random = new Random[n];
        boolean[] done = new boolean[n];
        for (int p = 0; p < n; p++) {
            generated.add(new ArrayList<>());
            random[p] = new Random(settings.seed() * 1_000_003L + p);
        }
        // Prompts that advance together: with a cache, those of one length share it; without, all of them.
        Map<Integer, List<Integer>> byLength = new LinkedHashMap<>();
        for (int p = 0; p < n; p++) {
            byLength.computeIfAbsent(settings.cached() ? prompts.get(p).length : 0, k -> new ArrayList<>())
                    .add(p);
        }
        List<List<Integer>> groups = List.copyOf(byLength.values());
        boolean onAttentionMaps =
                steers.stream().anyMatch(s -> HookSites.layoutOf(s.change().site()) == SiteLayout.ATTENTION_MAP);
        List<KvCache> caches = new ArrayList<>();
        try {
            if (settings.cached()) {
                for (List<Integer> g : groups) {
                    // A group's prompts share one length: the cache holds it and every new token, allocated once.
                    int capacity = prompts.get(g.get(0)).length + settings.maxNewTokens();
                    caches.add(runner.model().newKvCache(g.size(), capacity));
                }
            }
            for (int step = 0; step < settings.maxNewTokens(); step++) {
                // The first cached step runs each group's prompts whole (their lengths differ); every later step
                // runs one new token per sequence, every group in one batch against its own cache.
                List<List<Integer>> calls = settings.cached() && (step == 0 || onAttentionMaps)
                        ? IntStream.range(0, groups.size()).mapToObj(List::of).toList()
                        : List.of(IntStream.range(0, groups.size()).boxed().toList());
                for (List<Integer> call : calls) {
                    List<Integer> rows = new ArrayList<>();
                    List<KvCache> stepCaches = new ArrayList<>();
                    for (int g : call) {
                        List<Integer> group = groups.get(g);
                        if (!settings.cached()) {
                            group.stream().filter(p -> !done[p]).forEach(rows::add);
                        } else if (group.stream().anyMatch(p -> !done[p])) {
                            // A cache keeps its rows aligned: a finished prompt still runs (its tokens are not used).
                            rows.addAll(group);
                            stepCaches.add(caches.get(g));
                        }
                    }
                    if (rows.isEmpty()) {
                        continue;
                    }
                    List<GenerationStep.Row> batch = new ArrayList<>();
                    for (int p : rows) {
                        batch.add(row(p, prompts.get(p), generated.get(p), steers, sources, settings.cached()));
                    }
                    double[][] logits = runner.run(new GenerationStep(stepCaches, batch));
                    for (int i = 0; i < rows.size(); i++) {
                        int p = rows.get(i);
                        if (done[p]) {
                            continue;
                        }
                        int id = Sampling.next(logits[i], settings, random[p]);
                        generated.get(p).add(id);
                        listener.accept(new Token(p, step, id, Sampling.logProb(logits[i], id), logits[i]));
                        for (int stop : settings.stopTokens()) {
                            done[p] |= id == stop;
                        }
                    }
                }
            }
        } finally {
            caches.forEach(KvCache::close);
        }
        List<int[]> out = new ArrayList<>();
        for (List<Integer> g : generated) {
            out.add(g.stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }

    /**
     * A prompt's row for this step: its whole sequence so far (no cache, or the cache's first step), or its last
     * token; the interventions resolved to the positions the row covers, counted from the row's first.
     */
    private static GenerationStep.Row row(
            int index,
            int[] prompt,
            List<Integer> generated,
            List<Steer> steers,
            List<Source> sources,
            boolean cached) {
        int length = prompt.length + generated.size();
        int from = !cached || generated.isEmpty() ? 0 : length - 1;
        int[] tokens = new int[length - from];
        for (int t = from; t < length; t++) {
            tokens[t - from] = t < prompt.length ? prompt[t] : generated.get(t - prompt.length);
        }
        List<GenerationStep.SitePatch> patches = new ArrayList<>();
        for (Source s : sources) {
            // The source's positions within [from, length), counted from the row's first.
            NDArray activation = s.perPrompt()[index];
            long sourceLength = activation.getShape().get(0);
            int to = (int) Math.min(length, sourceLength);
            if (to > from) {
                patches.add(new GenerationStep.SitePatch(
                        s.site(),
                        Patch.of(0, activation.get(new NDIndex("{}:{}", from, to)), range(0, to - from), s.units())));
            }
        }
        return new GenerationStep.Row(tokens, resolve(steers, prompt.length, from, length), patches);
    }

    /**
     * The interventions on positions [from, to) of a sequence whose first {@code promptLength} are the prompt, their
     * positions counted from {@code from}; those that reach none of them are left out.
     */
    static List<Intervention> resolve(List<Steer> steers, int promptLength, int from, int to) {
        List<Intervention> out = new ArrayList<>();
        for (Steer s : steers) {
            int[] positions = switch (s.where()) {
                case ALL -> null;
                case PROMPT -> range(Math.max(from, 0), Math.min(promptLength, to));
                case GENERATED -> range(Math.max(from, promptLength), to);
                case GIVEN ->
                    Arrays.stream(s.change().positions())
                            .filter(t -> t >= from && t < to)
                            .toArray();
            };
            if (positions == null) {
                out.add(s.change().at(null));
            } else if (positions.length > 0) {
                out.add(s.change()
                        .at(Arrays.stream(positions).map(t -> t - from).toArray()));
            }
        }
        return out;
    }

    private static int[] range(int from, int to) {
        int[] out = new int[Math.max(0, to - from)];
        for (int i = 0; i < out.length; i++) {
            out[i] = from + i;
        }
        return out;
    }
}
