package dev.patchbay.attribution;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.ToyModels;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.TokenBatch;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import java.util.EnumSet;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * float16 against float32 on the same checkpoint, the errors a researcher accepts with --dtype fp16: logits, and
 * AtP, AtP* and activation patching over every node kind, each as the largest error over the largest magnitude
 * (relative to the scale of the result, since a tenth of the estimates are near zero). Weights and activations are
 * half; norms, the softmax and the metric are float32; the QK fix is float64. bfloat16 needs a GPU (the GPU check
 * measures it: tools/gpu/check.sh); on the CPU it is refused before DJL can abort the process.
 */
@Tag("slow")
class HalfPrecisionTest {
    private static final NodeSet ALL = new NodeSet(EnumSet.allOf(NodeKind.class), null, true, null);

    @ParameterizedTest
    @ValueSource(strings = {"tiny-gpt2", "tiny-llama", "tiny-gemma2", "tiny-qwen3"})
    void float16StaysWithinItsBoundsOfFloat32(String name) {
        try (LoadedModel full = TestCheckpoints.load(name, DataType.FLOAT32);
                LoadedModel half = TestCheckpoints.load(name, DataType.FLOAT16);
                NDManager scope = NDManager.newBaseManager("PyTorch")) {
            PromptPair pair = ToyModels.pair(name);
            double logits = relativeError(
                    full.transformer()
                            .forward(scope, TokenBatch.of(pair.clean()), Hooks.NONE)
                            .logits()
                            .toType(DataType.FLOAT64, false)
                            .toDoubleArray(),
                    half.transformer()
                            .forward(scope, TokenBatch.of(pair.clean()), Hooks.NONE)
                            .logits()
                            .toType(DataType.FLOAT64, false)
                            .toDoubleArray());
            double atp = relativeError(
                    estimates(() -> new AtP(false, 8), full, pair), estimates(() -> new AtP(false, 8), half, pair));
            double star = relativeError(
                    estimates(() -> new AtPStar(8), full, pair), estimates(() -> new AtPStar(8), half, pair));
            double ap = relativeError(
                    estimates(() -> new ActivationPatching(64), full, pair),
                    estimates(() -> new ActivationPatching(64), half, pair));
            System.out.printf(
                    "fp16 vs fp32, %s: logits %.2g, AtP %.2g, AtP* %.2g, AP %.2g (max error / max magnitude)%n",
                    name, logits, atp, star, ap);
            assertTrue(logits <= 1e-2, name + " logits " + logits);
            assertTrue(
                    atp <= 2e-2 && star <= 2e-2 && ap <= 2e-2, name + ": AtP " + atp + ", AtP* " + star + ", AP " + ap);
        }
    }

    @Test
    void bfloat16IsRefusedOnTheCpu() {
        var e = assertThrows(
                IllegalArgumentException.class,
                () -> LoadedModel.load(TestCheckpoints.dir("tiny-llama"), DataType.BFLOAT16, ComputeContext.cpu()));
        assertTrue(e.getMessage().startsWith("bfloat16 runs only on a GPU"), e.getMessage());
        assertThrows(
                IllegalArgumentException.class, () -> dev.patchbay.model.Precision.check(DataType.INT32, Device.cpu()));
    }

    private static double[] estimates(Supplier<AttributionMethod> method, LoadedModel model, PromptPair pair) {
        AttributionResult r = method.get().run(model.transformer(), List.of(pair), ALL);
        return r.blocks().stream()
                .flatMapToDouble(
                        b -> java.util.stream.IntStream.range(0, b.size()).mapToDouble(b::value))
                .toArray();
    }

    private static double relativeError(double[] reference, double[] other) {
        double scale = 0;
        double error = 0;
        for (int i = 0; i < reference.length; i++) {
            scale = Math.max(scale, Math.abs(reference[i]));
            error = Math.max(error, Math.abs(reference[i] - other[i]));
        }
        return error / scale;
    }
}
