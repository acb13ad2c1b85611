package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Set;

/**
 * One pair's {@link CleanSide} for a cache: every array of it flattened into one array per element type (one for
 * most models), with the layout to take it apart again. Caching a batch this way is one concatenation, one split
 * and one copy per pair, where an array per site and pair made two calls each (a slice and a copy: 3,840 for 16
 * pairs of GPT-2's 60 estimate sites and their gradients), each a kernel launch on a GPU.
 *
 * @param parts the flat arrays [1, values], one per entry of the layout's types
 * @param metric the pair's clean metric
 */
public record PackedCleanSide(Layout layout, List<NDArray> parts, double metric) {
    /** Where each array lies in the parts: the same for every pair packed from one batch. */
    public record Layout(List<Slot> slots, List<DataType> types, Set<String> gradientSites) {}

    /**
     * One array of the clean side.
     *
     * @param kind what it is: an activation, a gradient, or the reference log-probabilities
     * @param site the hook site (empty for the reference)
     * @param part which of the parts holds it
     * @param offset its first value in that part
     * @param shape its shape without the batch axis
     */
    public record Slot(Kind kind, String site, int part, long offset, Shape shape) {}

    public enum Kind {
        ACTIVATION,
        GRADIENT,
        REFERENCE
    }

    /** Native bytes the parts hold. */
    public long bytes() {
        long bytes = 0;
        for (NDArray p : parts) {
            bytes += p.getShape().size() * p.getDataType().getNumOfBytes();
        }
        return bytes;
    }
}
