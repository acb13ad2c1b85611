package dev.patchbay.cli;

import ai.djl.ndarray.types.DataType;
import picocli.CommandLine.Option;

/**
 * {@code --dtype}: the precision a command loads its model in and computes with. float32 is the default and the
 * reference; float64 is for precise checks (oracle comparisons, rankings that hinge on small differences), at
 * about twice the time and memory; float16 and bfloat16 (GPU only) halve the memory, with norms, softmax and the
 * metric in float32 and errors the README states. Checkpoints are converted to the chosen precision as they load.
 */
final class DtypeOption {
    @Option(
            names = "--dtype",
            defaultValue = "fp32",
            description = "Compute precision: fp32; fp64 for precise checks (about twice the time and memory);"
                    + " fp16, or bf16 on a GPU, for half the memory (default: ${DEFAULT-VALUE}).")
    String dtype;

    DataType dataType() {
        return switch (dtype) {
            case "fp32", "float32" -> DataType.FLOAT32;
            case "fp64", "float64" -> DataType.FLOAT64;
            case "fp16", "float16" -> DataType.FLOAT16;
            case "bf16", "bfloat16" -> DataType.BFLOAT16;
            default ->
                throw new IllegalArgumentException("--dtype: unknown '" + dtype + "'; use fp32, fp64, fp16 or bf16");
        };
    }
}
