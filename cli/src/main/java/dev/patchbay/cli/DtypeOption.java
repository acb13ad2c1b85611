package dev.patchbay.cli;

import ai.djl.ndarray.types.DataType;
import picocli.CommandLine.Option;

/**
 * {@code --dtype}: the precision a command loads its model in and computes with. float32 is the default and the
 * reference for speed; float64 is for precise checks (oracle comparisons, rankings that hinge on small
 * differences), at about twice the time and memory. Checkpoints stored in float16 or bfloat16 are widened.
 */
final class DtypeOption {
    @Option(
            names = "--dtype",
            defaultValue = "fp32",
            description = "Compute precision: fp32, or fp64 for precise checks (about twice the time and memory)"
                    + " (default: ${DEFAULT-VALUE}).")
    String dtype;

    DataType dataType() {
        return switch (dtype) {
            case "fp32", "float32" -> DataType.FLOAT32;
            case "fp64", "float64" -> DataType.FLOAT64;
            default ->
                throw new IllegalArgumentException("--dtype: unknown '" + dtype + "'; use fp32 or fp64"
                        + " (half precision runs only on a GPU, which this build does not use)");
        };
    }
}
