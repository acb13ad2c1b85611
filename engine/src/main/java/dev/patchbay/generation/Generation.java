package dev.patchbay.generation;

import dev.patchbay.model.Intervention;
import dev.patchbay.passes.GenerationStep;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Generates continuations of prompts, one token per step for every unfinished prompt at once, with interventions
 * applied at every step where they match (steering; issue 18). Each step recomputes every sequence in full (no KV
 * cache yet): an intervention at an early position therefore reaches later steps exactly as the model would carry
 * it. Greedy where the temperature is 0, else sampled (temperature, top-k, top-p) from one generator per prompt
 * seeded from the seed and the prompt's index, so a prompt's sample does not depend on what it is batched with.
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
     * @param temperature 0 for greedy
     * @param topK sample among the k most likely tokens; 0 for all
     * @param topP sample among the most likely tokens whose probabilities sum to p; 0 or 1 for all
     * @param stopTokens tokens that end a prompt's continuation (the token is emitted, then it stops)
     */
    public record Settings(int maxNewTokens, int[] stopTokens, double temperature, int topK, double topP, long seed) {
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

        public static Settings greedy(int maxNewTokens) {
            return new Settings(maxNewTokens, new int[0], 0, 0, 0, 0);
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
        int n = prompts.size();
        List<List<Integer>> generated = new ArrayList<>();
        Random[] random = new Random[n];
        boolean[] done = new boolean[n];
        for (int p = 0; p < n; p++) {
            generated.add(new ArrayList<>());
            random[p] = new Random(settings.seed() * 1_000_003L + p);
        }
        for (int step = 0; step < settings.maxNewTokens(); step++) {
            List<Integer> active = new ArrayList<>();
            List<GenerationStep.Row> rows = new ArrayList<>();
            for (int p = 0; p < n; p++) {
                if (done[p]) {
                    continue;
                }
                int[] prompt = prompts.get(p);
                int[] sequence =
                        Arrays.copyOf(prompt, prompt.length + generated.get(p).size());
                for (int i = 0; i < generated.get(p).size(); i++) {
                    sequence[prompt.length + i] = generated.get(p).get(i);
                }
                active.add(p);
                rows.add(new GenerationStep.Row(sequence, resolve(steers, prompt.length, sequence.length)));
            }
            if (active.isEmpty()) {
                break;
            }
            double[][] logits = runner.nextTokenLogits(rows);
            for (int i = 0; i < active.size(); i++) {
                int p = active.get(i);
                double[] logProbs = Sampling.logSoftmax(logits[i]);
                int id = Sampling.next(logits[i], settings, random[p]);
                generated.get(p).add(id);
                listener.accept(new Token(p, step, id, logProbs[id], logits[i]));
                for (int stop : settings.stopTokens()) {
                    done[p] |= id == stop;
                }
            }
        }
        List<int[]> out = new ArrayList<>();
        for (List<Integer> g : generated) {
            out.add(g.stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }

    /** The interventions of a sequence of {@code length} tokens whose first {@code promptLength} are the prompt. */
    static List<Intervention> resolve(List<Steer> steers, int promptLength, int length) {
        List<Intervention> out = new ArrayList<>();
        for (Steer s : steers) {
            int[] positions = switch (s.where()) {
                case ALL -> null;
                case PROMPT -> range(0, promptLength);
                case GENERATED -> range(promptLength, length);
                case GIVEN ->
                    Arrays.stream(s.change().positions())
                            .filter(t -> t < length)
                            .toArray();
            };
            if (positions == null || positions.length > 0) {
                out.add(s.change().at(positions));
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
