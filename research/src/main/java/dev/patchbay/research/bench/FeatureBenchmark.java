package dev.patchbay.research.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import dev.patchbay.attribution.AtP;
import dev.patchbay.features.Dictionary;
import dev.patchbay.features.FeatureEstimates;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.model.family.Families;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.FeatureGradientWork;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * AtP over sparse dictionaries' features (issue 33) on the random GPT-2-small-shaped model: three random ReLU SAEs of
 * {@code width} features at blocks.3, 6 and 9.hook_resid_pre, one pair of {@code tokens} random tokens, against
 * component AtP (attention and neuron nodes, per position) and one forward in the same run, and against the same
 * feature AtP in plain PyTorch + transformers ({@code tools/torch_feature_reference.py}), where a Python with torch is
 * at hand.
 *
 * <p>The SAEs are made by one recipe on both sides: W_enc scaled so that a pre-activation is about N(0, 1) on the clean
 * run's residual stream, b_enc = -2.5 (about 0.6% of the features active on a token), W_dec N(0, 0.01^2), b_dec 0.
 */
public final class FeatureBenchmark {
    static final String FEATURE_ATP = "AtP over the features of three SAEs";
    private static final String SCRIPT = "tools/torch_feature_reference.py";
    private static final int[] LAYERS = {3, 6, 9};

    private final int tokens;
    private final int width;
    private final int repeats;
    private final ComputeContext compute;

    public FeatureBenchmark(int tokens, int width, int repeats, ComputeContext compute) {
        this.tokens = tokens;
        this.width = width;
        this.repeats = repeats;
        this.compute = compute;
    }

    public List<Benchmark.Row> run() throws InterruptedException {
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        ModelConfig config = Benchmark.gpt2Small();
        List<Benchmark.Row> rows = new ArrayList<>();
        double ours;
        try (NDManager weights = compute.newScope()) {
            HookedTransformer model = Families.build(config, new RandomWeights(weights), weights);
            Random random = new Random(42);
            int[] clean = random.ints(tokens, 0, config.vocabSize()).toArray();
            int[] noise = random.ints(tokens, 0, config.vocabSize()).toArray();
            PromptPair pair = new PromptPair(clean, noise, Metric.logitDiff(new int[] {100}, new int[] {200}));
            List<Dictionary> dictionaries = dictionaries(model, weights, clean);
            double forward = Benchmark.median(repeats, () -> {
                try (NDManager scope = weights.newSubManager()) {
                    model.forward(scope, TokenBatch.of(clean), Hooks.NONE)
                            .logits()
                            .toFloatArray();
                }
            });
            double component = Benchmark.median(
                    repeats, () -> new AtP(false, 1).run(model, List.of(pair), NodeSet.attentionAndNeurons()));
            FeatureEstimates[] last = {null};
            FeatureGradientWork work = new FeatureGradientWork(List.of(pair), dictionaries);
            ours = Benchmark.median(repeats, () -> last[0] = work.run(model));
            long changed = last[0].pairs().get(0).byDictionary().values().stream()
                    .mapToLong(FeatureEstimates.Block::size)
                    .sum();
            rows.add(new Benchmark.Row("features: clean forward", forward, 1, ""));
            rows.add(new Benchmark.Row(
                    "features: component AtP, attention + neuron nodes", component, component / forward, ""));
            rows.add(new Benchmark.Row(
                    FEATURE_ATP,
                    ours,
                    ours / forward,
                    String.format(
                            Locale.ROOT,
                            "%.2fx component AtP (target < 1.5x); %d features of %d x %d positions changed, %d"
                                    + " features each",
                            ours / component,
                            changed,
                            LAYERS.length,
                            tokens,
                            width)));
        }
        rows.add(reference(ours));
        return rows;
    }

    /** Three random ReLU SAEs by the recipe above, scaled on the clean run's residual stream. */
    private List<Dictionary> dictionaries(HookedTransformer model, NDManager weights, int[] clean) {
        List<String> sites = new ArrayList<>();
        for (int l : LAYERS) {
            sites.add(HookSites.residPre(l));
        }
        List<Dictionary> out = new ArrayList<>();
        try (NDManager scope = weights.newSubManager()) {
            ForwardResult run = model.forward(
                    scope, TokenBatch.of(clean), Hooks.builder().cache(sites).build());
            int d = model.config().dModel();
            for (int i = 0; i < LAYERS.length; i++) {
                double rms = run.activation(sites.get(i)).square().mean().getFloat();
                NDArray encoder = weights.randomNormal(new Shape(d, width), DataType.FLOAT32)
                        .div(Math.sqrt(d) * Math.sqrt(rms));
                NDArray encoderBias = weights.full(new Shape(width), -2.5f);
                NDArray decoder = weights.randomNormal(new Shape(width, d), DataType.FLOAT32)
                        .mul(0.01);
                NDArray decoderBias = weights.zeros(new Shape(d));
                out.add(new Dictionary(
                        "sae" + LAYERS[i],
                        sites.get(i),
                        sites.get(i),
                        Dictionary.Activation.RELU,
                        0,
                        false,
                        encoder,
                        encoderBias,
                        decoder,
                        decoderBias,
                        null,
                        null));
            }
        }
        return out;
    }

    /** The plain PyTorch row: its time and Patchbay's ratio to it, or why it was not measured. */
    private Benchmark.Row reference(double ours) throws InterruptedException {
        String python = System.getenv()
                .getOrDefault("PATCHBAY_REFERENCE_PYTHON", System.getenv().getOrDefault("PATCHBAY_TORCH", "python3"));
        String device = compute.device().isGpu() ? "cuda:" + compute.device().getDeviceId() : "cpu";
        PythonScript.Outcome outcome = PythonScript.run(
                python,
                SCRIPT,
                List.of(
                        "--device",
                        device,
                        "--tokens",
                        Integer.toString(tokens),
                        "--width",
                        Integer.toString(width),
                        "--repeats",
                        Integer.toString(repeats)),
                30,
                "it needs torch and transformers; set PATCHBAY_REFERENCE_PYTHON to a Python that has them");
        if (!outcome.ok()) {
            return new Benchmark.Row("plain PyTorch feature AtP", 0, 0, "not measured: " + outcome.failure());
        }
        JsonObject r = outcome.json();
        double theirs = r.get("feature_atp_s").getAsDouble();
        return new Benchmark.Row(
                "plain PyTorch " + r.get("torch").getAsString() + ": " + FEATURE_ATP,
                theirs,
                0,
                String.format(
                        Locale.ROOT,
                        "plain PyTorch / Patchbay = %.2f (%d changed features there)",
                        theirs / ours,
                        r.get("changed_features").getAsLong()));
    }
}
