package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import dev.patchbay.TestCheckpoints;
import org.junit.jupiter.api.Test;

/**
 * --device: Patchbay used to run wherever DJL happened to start, and DJL falls back to the CPU in silence when it
 * cannot load the CUDA runtime. cpu and auto work everywhere; cuda works where PyTorch sees a GPU and is one
 * clear error where it does not (CI has none: both outcomes are checked according to what this process sees).
 */
class DeviceOptionTest {
    private final CliRun cli = new CliRun();

    @Test
    void cpuAndAutoRunHere() {
        String model = TestCheckpoints.dir("tiny-gpt2").toString();
        for (String device : new String[] {"cpu", "auto"}) {
            assertEquals(
                    0, cli.run("logits", "--model", model, "--text", "Hello", "--device", device), cli.err.toString());
        }
    }

    @Test
    void cudaRunsOnAGpuAndIsOneClearErrorWithout() {
        int exit = cli.run(
                "logits",
                "--model",
                TestCheckpoints.dir("tiny-gpt2").toString(),
                "--text",
                "Hello",
                "--device",
                "cuda");
        if (Engine.getEngine("PyTorch").getGpuCount() > 0) {
            assertEquals(0, exit, cli.err.toString());
        } else {
            assertNotEquals(0, exit);
            assertTrue(cli.err.toString().contains("--device cuda: PyTorch"), cli.err.toString());
            assertTrue(
                    cli.err.toString().contains("sees 0 GPUs (the loaded libtorch has no CUDA support"),
                    cli.err.toString());
        }
    }

    @Test
    void anUnknownDeviceIsOneClearError() {
        assertNotEquals(0, cli.run("logits", "--text", "Hello", "--device", "tpu"));
        assertTrue(cli.err.toString().contains("--device: unknown 'tpu'"), cli.err.toString());
    }
}
