package dev.patchbay.cli;

import dev.patchbay.model.ComputeContext;
import picocli.CommandLine.Option;

/**
 * {@code --device}: where a command's model lives and computes. {@code cuda} fails when PyTorch sees no GPU
 * rather than falling back to the CPU; {@code auto} (the default) takes the first GPU PyTorch sees, else the
 * CPU, and the command says which.
 */
public final class DeviceOption {
    @Option(
            names = "--device",
            defaultValue = "auto",
            description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}: the first GPU PyTorch sees, else"
                    + " the CPU).")
    String device;

    public ComputeContext compute() {
        return ComputeContext.parse(device);
    }
}
