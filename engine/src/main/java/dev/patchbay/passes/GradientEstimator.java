package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.Scalars;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.NodeKind;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.ToIntFunction;

/** Runs one {@link GradientWork}: the AtP family's passes for a batch of pairs, on the calling thread. */
public final class GradientEstimator {
    private GradientEstimator() {}

    public static GradientEstimates run(HookedTransformer model, GradientWork work) {
        return run(model, work, null, null);
    }

    /**
     * Runs {@code work}. With {@code cached} (one clean side per pair, all of one length; not for GradDrop, which
     * needs the live graph) only the noise forward runs; otherwise the clean sides computed are handed to
     * {@code computed}, if given, packed in arrays of the caller's to keep (attach them elsewhere, or they are freed
     * with the pass).
     */
    public static GradientEstimates run(
            HookedTransformer model,
            GradientWork work,
            List<PackedCleanSide> cached,
            Consumer<List<PackedCleanSide>> computed) {
        long start = System.nanoTime();
        PairBatch batch = PairBatch.of(work.pairs());
        int layers = model.config().nLayers();
        if (cached != null && work.variant().gradDrop()) {
            throw new IllegalArgumentException(
                    "GradDrop needs the live graph; its clean passes cannot come from a cache");
        }
        try (NDManager scope = model.compute().newScope();
                GradientPass pass = cached == null
                        ? new GradientPass(
                                model,
                                scope,
                                batch,
                                work.nodes(),
                                work.variant().qkFix(),
                                work.variant().gradDrop())
                        : new GradientPass(
                                model,
                                scope,
                                batch,
                                work.nodes(),
                                work.variant().qkFix(),
                                CleanSide.unpack(scope, cached))) {
            if (computed != null && cached == null) {
                computed.accept(pass.packedCleanRows());
            }
            Map<BlockKey, NDArray> onDevice = new LinkedHashMap<>();
            double passes;
            double compute;
            if (work.variant().gradDrop()) {
                double variants = GradDrop.run(pass, new NodeScores(pass, onDevice), layers);
                int informative = GradDrop.informativeVariants(layers);
                onDevice.replaceAll((g, score) -> {
                    NDArray mean = Scalars.times(score, 1.0 / informative);
                    score.close();
                    return mean;
                });
                // Per pair, in the paper's unit: two forward passes and L backward passes. The compute is two
                // forwards, one full backward and the partial backward passes below the dropped layers.
                passes = batch.size() * (2 + 2.0 * layers);
                compute = batch.size() * (4 + variants);
            } else {
                for (BlockKey g : pass.groups()) {
                    onDevice.put(g, pass.estimates(g));
                }
                // Two forward passes and one backward pass per pair, or the noise forward alone when cached.
                passes = (cached == null ? 4.0 : 1.0) * batch.size();
                compute = passes;
            }
            Map<BlockKey, double[][]> estimates = readBack(onDevice, work.sums());
            return new GradientEstimates(
                    estimates,
                    work.sums(),
                    pass.positions(),
                    pass.cleanMetrics(),
                    pass.noiseMetrics(),
                    new Cost(passes, compute, (System.nanoTime() - start) / 1e9),
                    GradientEstimates.CacheUse.NOT_APPLICABLE);
        }
    }

    /**
     * A node pass's GradDrop sums: per group, weight x |estimate| on the device, so each group is read back once rather
     * than once per variant. A node in layer n is read in full by the n variants above it; residual-stream nodes
     * (resid_pre(n)) lie below the stop at their own layer, so they get all L terms.
     */
    record NodeScores(GradientPass pass, Map<BlockKey, NDArray> sums) implements GradDrop.Scored<BlockKey> {
        @Override
        public List<BlockKey> groups() {
            return pass.groups();
        }

        @Override
        public int fullVariants(BlockKey g) {
            return g.layer();
        }

        @Override
        public boolean changedBy(BlockKey g, int stop) {
            return g.layer() < stop || (g.kind() == NodeKind.RESIDUAL && g.layer() == stop);
        }

        @Override
        public void read(List<BlockKey> groups, ToIntFunction<BlockKey> weight) {
            for (BlockKey g : groups) {
                try (NDArray estimate = pass.estimates(g)) {
                    GradDrop.accumulate(sums, g, estimate, weight.applyAsInt(g));
                }
            }
        }
    }

    /**
     * The blocks' estimates [pair, node] as host rows, one per pair; or, with {@code sums}, one per group of pairs:
     * the sum of |estimate| over the group, taken on the device so that only the sums are copied.
     *
     * <p>The blocks are laid side by side on the device first (one concatenation), then read one row at a time in
     * the estimates' own type and split into each block's double array on the host. Per block, a conversion and a
     * copy per row made 60 conversions and 960 copies for 16 pairs of GPT-2 small (12 layers of five blocks); and a
     * row at a time, not all rows at once, keeps the host from holding the whole batch twice (311 MB in float64 for
     * 16 pairs of GPT-2 small at 64 tokens).
     */
    static Map<BlockKey, double[][]> readBack(Map<BlockKey, NDArray> blocks, List<Integer> sums) {
        NDArray all = blocks.size() == 1
                ? blocks.values().iterator().next()
                : NDArrays.concat(new NDList(blocks.values()), 1);
        if (!sums.isEmpty()) {
            NDList groups = new NDList();
            int from = 0;
            for (int size : sums) {
                groups.add(
                        all.get(new NDIndex("{}:{}", from, from + size)).abs().sum(new int[] {0}));
                from += size;
            }
            all = NDArrays.stack(groups);
        }
        int rows = (int) all.getShape().get(0);
        Map<BlockKey, double[][]> out = new LinkedHashMap<>();
        blocks.forEach((g, block) -> out.put(g, new double[rows][]));
        for (int r = 0; r < rows; r++) {
            try (NDArray row = all.get(r)) {
                split(row, blocks, out, r);
            }
        }
        return out;
    }

    /** One row of every block side by side, read from the device in one copy, into each block's own array. */
    private static void split(NDArray row, Map<BlockKey, NDArray> blocks, Map<BlockKey, double[][]> out, int r) {
        float[] narrow = null;
        double[] wide = null;
        if (row.getDataType() == DataType.FLOAT32) {
            narrow = row.toFloatArray();
        } else {
            wide = row.toType(DataType.FLOAT64, false).toDoubleArray();
        }
        int from = 0;
        for (Map.Entry<BlockKey, NDArray> block : blocks.entrySet()) {
            int width = (int) block.getValue().getShape().get(1);
            double[] values;
            if (narrow != null) {
                values = new double[width];
                for (int i = 0; i < width; i++) {
                    values[i] = narrow[from + i];
                }
            } else {
                values = Arrays.copyOfRange(wide, from, from + width);
            }
            out.get(block.getKey())[r] = values;
            from += width;
        }
    }
}
