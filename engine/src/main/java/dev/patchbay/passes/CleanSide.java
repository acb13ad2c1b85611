package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.Scoped;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * The clean run's side of a batch: activations and metric gradients at the sites the estimates read, each
 * row's metric, and its log-probabilities at the metric position (the noise metric's KL reference). A
 * live gradient session provides it, or, for AtP without GradDrop, the cache of an earlier request.
 */
public record CleanSide(
        Map<String, NDArray> activations,
        Set<String> gradientSites,
        Function<String, NDArray> gradients,
        double[] metrics,
        NDArray reference) {
    /**
     * Each row of this batch packed on its own (see {@link PackedCleanSide}), in arrays owned by this side's
     * manager until the caller attaches them elsewhere: per element type, every array flattened per row and
     * concatenated (one call), split into rows (one call) and each row copied (one call per row, so that every pair
     * owns exactly its own memory).
     */
    List<PackedCleanSide> packRows() {
        int rows = metrics.length;
        List<PackedCleanSide.Slot> slots = new ArrayList<>();
        List<DataType> types = new ArrayList<>();
        List<NDList> flattened = new ArrayList<>();
        List<Long> widths = new ArrayList<>();
        BiConsumer<PackedCleanSide.Kind, Map.Entry<String, NDArray>> add = (kind, e) -> {
            NDArray a = e.getValue();
            int part = types.indexOf(a.getDataType());
            if (part < 0) {
                part = types.size();
                types.add(a.getDataType());
                flattened.add(new NDList());
                widths.add(0L);
            }
            Shape shape = a.getShape().slice(1);
            slots.add(new PackedCleanSide.Slot(kind, e.getKey(), part, widths.get(part), shape));
            flattened.get(part).add(a.reshape(rows, -1));
            widths.set(part, widths.get(part) + shape.size());
        };
        // Sites in sorted order: every batch of one setting packs alike, so its pairs share one layout.
        new TreeMap<>(activations).entrySet().forEach(e -> add.accept(PackedCleanSide.Kind.ACTIVATION, e));
        for (String site : new TreeSet<>(gradientSites)) {
            add.accept(PackedCleanSide.Kind.GRADIENT, Map.entry(site, gradients.apply(site)));
        }
        add.accept(PackedCleanSide.Kind.REFERENCE, Map.entry("", reference));
        PackedCleanSide.Layout layout =
                new PackedCleanSide.Layout(List.copyOf(slots), List.copyOf(types), Set.copyOf(gradientSites));
        List<List<NDArray>> parts = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            parts.add(new ArrayList<>());
        }
        for (NDList flat : flattened) {
            NDArray joined = flat.size() == 1 ? flat.get(0) : NDArrays.concat(flat, 1);
            try (NDList split = joined.split(rows)) {
                for (int r = 0; r < rows; r++) {
                    parts.get(r).add(split.get(r).duplicate());
                }
            }
            if (flat.size() > 1) {
                joined.close();
            }
            flat.close();
        }
        List<PackedCleanSide> out = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            out.add(new PackedCleanSide(layout, List.copyOf(parts.get(r)), metrics[r]));
        }
        return out;
    }

    /**
     * Packed pairs (of one layout: the same setting and length) as one batch owned by {@code scope}: per element
     * type one concatenation of the pairs' parts, then views of it for every array.
     */
    static CleanSide unpack(NDManager scope, List<PackedCleanSide> rows) {
        PackedCleanSide.Layout layout = rows.get(0).layout();
        for (PackedCleanSide row : rows) {
            if (!row.layout().equals(layout)) {
                throw new IllegalArgumentException("packed clean sides of different layouts cannot form one batch");
            }
        }
        int count = rows.size();
        List<NDArray> joined = new ArrayList<>();
        for (int part = 0; part < layout.types().size(); part++) {
            final int p = part;
            joined.add(Scoped.concat(
                    scope, rows.stream().map(r -> r.parts().get(p)).toList()));
        }
        Map<String, NDArray> acts = new HashMap<>();
        Map<String, NDArray> grads = new HashMap<>();
        NDArray reference = null;
        for (PackedCleanSide.Slot slot : layout.slots()) {
            long[] shape = new long[slot.shape().dimension() + 1];
            shape[0] = count;
            System.arraycopy(slot.shape().getShape(), 0, shape, 1, slot.shape().dimension());
            NDArray array = joined.get(slot.part())
                    .get(new NDIndex(
                            ":, {}:{}",
                            slot.offset(),
                            slot.offset() + slot.shape().size()))
                    .reshape(new Shape(shape));
            switch (slot.kind()) {
                case ACTIVATION -> acts.put(slot.site(), array);
                case GRADIENT -> grads.put(slot.site(), array);
                case REFERENCE -> reference = array;
            }
        }
        double[] metrics = rows.stream().mapToDouble(PackedCleanSide::metric).toArray();
        return new CleanSide(acts, layout.gradientSites(), grads::get, metrics, reference);
    }
}
