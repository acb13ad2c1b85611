package dev.patchbay.research.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.patchbay.attribution.ActivationPatching;
import dev.patchbay.attribution.AtP;
import dev.patchbay.attribution.AtPStar;
import dev.patchbay.attribution.AttributionMethod;
import dev.patchbay.execution.ResidentMemory;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.family.Families;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Peak resident memory of each method on the random GPT-2-small-shaped model, above what the process held
 * once the model was loaded. Run before anything else in the process: the native allocator keeps some freed
 * memory for reuse, so a later method's figure would start from an earlier one's leftovers.
 */
public final class MemoryBenchmark {
    private static final double GB = 1e9;
    private final int tokens;
    private final ComputeContext compute;

    public MemoryBenchmark(int tokens, ComputeContext compute) {
        this.tokens = tokens;
        this.compute = compute;
    }

    public List<Benchmark.Row> run() {
        List<Benchmark.Row> rows = new ArrayList<>();
        if (!ResidentMemory.supported()) {
            rows.add(new Benchmark.Row("peak memory", 0, 0, "not measured: needs Linux's /proc/self"));
            return rows;
        }
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        ModelConfig config = Benchmark.gpt2Small();
        try (NDManager weights = compute.newScope()) {
            HookedTransformer model = Families.build(config, new RandomWeights(weights), weights);
            Random random = new Random(42);
            int[] clean = random.ints(tokens, 0, config.vocabSize()).toArray();
            int[] noise = random.ints(tokens, 0, config.vocabSize()).toArray();
            List<PromptPair> pairs =
                    List.of(new PromptPair(clean, noise, Metric.logitDiff(new int[] {100}, new int[] {200})));
            long loaded = ResidentMemory.currentBytes();
            // Per-layer recomputation first: the allocator keeps what a larger pass freed, so a smaller peak measured
            // after it would not show.
            rows.add(measure(
                    "AtP, recomputed per layer, attention + neuron nodes: peak above the model",
                    loaded,
                    model,
                    new AtP(false, 1, true),
                    pairs,
                    NodeSet.attentionAndNeurons(),
                    ""));
            rows.add(measure(
                    "AtP with the QK fix, recomputed per layer: peak above the model",
                    loaded,
                    model,
                    new AtP(true, 1, true),
                    pairs,
                    NodeSet.attentionAndNeurons(),
                    ""));
            rows.add(measure(
                    "AtP*, recomputed per layer: peak above the model",
                    loaded,
                    model,
                    new AtPStar(1, true),
                    pairs,
                    NodeSet.attentionAndNeurons(),
                    ""));
            rows.add(measure(
                    "activation patching, 144 heads: peak above the model",
                    loaded,
                    model,
                    new ActivationPatching(48),
                    pairs,
                    NodeSet.heads(),
                    "<= 0.6 GB"));
            rows.add(measure(
                    "AtP, attention + neuron nodes: peak above the model",
                    loaded,
                    model,
                    new AtP(false, 1),
                    pairs,
                    NodeSet.attentionAndNeurons(),
                    ""));
            rows.add(measure(
                    "AtP with the QK fix, attention + neuron nodes: peak above the model",
                    loaded,
                    model,
                    new AtP(true, 1),
                    pairs,
                    NodeSet.attentionAndNeurons(),
                    ""));
            rows.add(measure(
                    "AtP*, attention + neuron nodes: peak above the model",
                    loaded,
                    model,
                    new AtPStar(1),
                    pairs,
                    NodeSet.attentionAndNeurons(),
                    ""));
        }
        return rows;
    }

    private static Benchmark.Row measure(
            String name,
            long loaded,
            HookedTransformer model,
            AttributionMethod method,
            List<PromptPair> pairs,
            NodeSet nodes,
            String target) {
        long start = System.nanoTime();
        long peak = ResidentMemory.peakDuring(() -> method.run(model, pairs, nodes));
        double seconds = (System.nanoTime() - start) / 1e9;
        String measured = String.format("measured %.2f GB", (peak - loaded) / GB);
        return new Benchmark.Row(name, seconds, 0, target.isEmpty() ? measured : target + " (" + measured + ")");
    }
}
