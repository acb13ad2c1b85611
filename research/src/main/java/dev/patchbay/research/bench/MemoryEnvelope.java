package dev.patchbay.research.bench;

import dev.patchbay.model.Architecture;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.passes.Budget;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntToLongFunction;

/**
 * The longest prompt one pair of each AtP-family pass can take, per model shape and memory size, from the memory model
 * the server plans with ({@link Budget}, {@code PassMemory}): arithmetic, nothing runs. What a memory holds above the
 * model's weights is the budget; what fits is where the estimated peak of one pair stays within it. docs/memory.md
 * is written from this table; the estimates are checked against measured peaks by the memory section.
 */
public final class MemoryEnvelope {
    private static final double GB = 1e9;
    /** The memories a researcher has: this project's CPU machines, an 80 GB H100, a 141 GB H200. */
    static final long[] MEMORIES = {24_000_000_000L, 80_000_000_000L, 141_000_000_000L};
    /** Longer than any shape here is trained for: the envelope stops there. */
    static final int LONGEST = 131_072;

    private MemoryEnvelope() {}

    /** A model shape and the precision it is run in. */
    record Shape(String name, ModelConfig config, int elementBytes) {
        long weightBytes() {
            ModelConfig c = config;
            long attention = (long) c.dModel() * c.dHead() * (2L * c.nHeads() + 2L * c.nKvHeads());
            long mlp = (c.architecture() == Architecture.GPT2 ? 2L : 3L) * c.dModel() * c.dMlp();
            long embeddings = (c.tiedEmbeddings() ? 1L : 2L) * c.vocabSize() * c.dModel();
            return (c.nLayers() * (attention + mlp) + embeddings) * elementBytes;
        }
    }

    static List<Shape> shapes() {
        return List.of(
                new Shape("GPT-2 small, float32", Benchmark.gpt2Small(), 4),
                new Shape("Llama 3.2 1B, bfloat16", Benchmark.llama1b(), 2),
                new Shape("Llama 3.2 1B, float32", Benchmark.llama1b(), 4),
                new Shape("Llama 3 8B, bfloat16", llama8b(), 2));
    }

    /** Llama 3 8B's shape: 32 layers, 32 query heads over 8 key/value heads, d_model 4096, SwiGLU of 14336. */
    static ModelConfig llama8b() {
        return Benchmark.llama1b().toBuilder()
                .nLayers(32)
                .dModel(4096)
                .dHead(128)
                .rotaryDim(128)
                .dMlp(14336)
                .tiedEmbeddings(false)
                .attnScale(1.0 / Math.sqrt(128))
                .layers(null)
                .build();
    }

    /** A pass of the AtP family, plain or with per-layer recomputation, and its bytes for one pair. */
    record Pass(String name, boolean qkFix, boolean gradDrop, boolean recomputed) {
        long rowBytes(Budget b, int length) {
            return recomputed
                    ? b.layerwiseGradientRowBytes(length, qkFix, gradDrop, false, false)
                    : b.gradientRowBytes(length, qkFix, gradDrop);
        }
    }

    static List<Pass> passes() {
        List<Pass> out = new ArrayList<>();
        for (boolean recomputed : new boolean[] {false, true}) {
            String how = recomputed ? ", recomputed per layer" : ", plain";
            out.add(new Pass("AtP" + how, false, false, recomputed));
            out.add(new Pass("AtP with the QK fix" + how, true, false, recomputed));
            out.add(new Pass("AtP*" + how, true, true, recomputed));
        }
        return out;
    }

    /** The longest length in [1, LONGEST] whose bytes stay within {@code budget}; 0 when not even one token does. */
    static int longest(IntToLongFunction bytes, long budget) {
        if (budget <= 0 || bytes.applyAsLong(1) > budget) {
            return 0;
        }
        int low = 1;
        int high = LONGEST;
        if (bytes.applyAsLong(high) <= budget) {
            return high;
        }
        while (high - low > 1) {
            int mid = (low + high) >>> 1;
            if (bytes.applyAsLong(mid) <= budget) {
                low = mid;
            } else {
                high = mid;
            }
        }
        return low;
    }

    public static List<Benchmark.Row> run() {
        List<Benchmark.Row> rows = new ArrayList<>();
        for (Shape shape : shapes()) {
            for (long memory : MEMORIES) {
                long above = memory - shape.weightBytes();
                for (Pass pass : passes()) {
                    String name = String.format(
                            Locale.ROOT, "envelope: %s, %.0f GB, %s", shape.name(), memory / GB, pass.name());
                    if (above <= 0) {
                        rows.add(new Benchmark.Row(name, 0, 0, "the weights alone do not fit"));
                        continue;
                    }
                    Budget budget = new Budget(shape.config(), shape.elementBytes(), above);
                    int tokens = longest(length -> pass.rowBytes(budget, length), above);
                    rows.add(new Benchmark.Row(
                            name,
                            0,
                            0,
                            String.format(
                                    Locale.ROOT,
                                    "%s tokens (weights %.1f GB)",
                                    tokens == LONGEST ? ">= " + LONGEST : String.valueOf(tokens),
                                    shape.weightBytes() / GB)));
                }
            }
        }
        return rows;
    }
}
