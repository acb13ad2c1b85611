package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonParser;
import dev.patchbay.TestCheckpoints;
import org.junit.jupiter.api.Test;

/** float64 on request: the README promised "fp64 for precise checks", but only the Java API offered it. */
class DtypeOptionTest {
    private final CliRun cli = new CliRun();
    private final java.io.StringWriter out = cli.out;
    private final java.io.StringWriter err = cli.err;

    private int run(String... args) {
        return cli.run(args);
    }

    @Test
    void logitsInFloat64AgreeWithFloat32ToItsPrecisionAndCarryMoreDigits() {
        String model = TestCheckpoints.dir("tiny-llama").toString();
        assertEquals(0, run("logits", "--model", model, "--text", "Hello there", "--json"), err.toString());
        JsonArray fp32 =
                JsonParser.parseString(out.toString()).getAsJsonObject().getAsJsonArray("logits");
        out.getBuffer().setLength(0);
        assertEquals(
                0,
                run("logits", "--model", model, "--text", "Hello there", "--json", "--dtype", "fp64"),
                err.toString());
        JsonArray fp64 =
                JsonParser.parseString(out.toString()).getAsJsonObject().getAsJsonArray("logits");
        assertEquals(fp32.size(), fp64.size());
        boolean differs = false;
        for (int i = 0; i < fp32.size(); i++) {
            double a = fp32.get(i).getAsDouble();
            double b = fp64.get(i).getAsDouble();
            // float32's rounding over two layers of a tiny model: far below 1e-4 (the parity bound).
            assertEquals(b, a, 1e-4, "logit " + i);
            differs |= a != b;
        }
        assertTrue(differs, "float64 must not be float32 in disguise");
    }

    @Test
    void anUnknownDtypeIsOneClearError() {
        assertNotEquals(0, run("logits", "--text", "Hello", "--dtype", "fp8"));
        assertTrue(err.toString().contains("--dtype: unknown 'fp8'; use fp32, fp64, fp16 or bf16"), err.toString());
    }

    /** DJL's CPU engine aborts the JVM on bfloat16 arrays: refused before any is made, and the JVM lives on. */
    @Test
    void bfloat16OnTheCpuIsRefusedBeforeItCanAbort() {
        String model = TestCheckpoints.dir("tiny-llama").toString();
        assertNotEquals(0, run("logits", "--model", model, "--text", "Hello", "--dtype", "bf16", "--device", "cpu"));
        assertTrue(err.toString().contains("bfloat16 runs only on a GPU"), err.toString());
    }

    @Test
    void float16ComputesNearFloat32() {
        String model = TestCheckpoints.dir("tiny-llama").toString();
        assertEquals(0, run("logits", "--model", model, "--text", "Hello there", "--json"), err.toString());
        JsonArray fp32 =
                JsonParser.parseString(out.toString().trim()).getAsJsonObject().getAsJsonArray("logits");
        out.getBuffer().setLength(0);
        assertEquals(
                0,
                run("logits", "--model", model, "--text", "Hello there", "--json", "--dtype", "fp16"),
                err.toString());
        JsonArray fp16 =
                JsonParser.parseString(out.toString().trim()).getAsJsonObject().getAsJsonArray("logits");
        for (int i = 0; i < fp32.size(); i++) {
            // HalfPrecisionTest states the engine's bounds; here only that fp16 is what ran, and it is close.
            assertEquals(fp32.get(i).getAsDouble(), fp16.get(i).getAsDouble(), 0.1, "logit " + i);
        }
    }
}
