package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Cost;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/** Runs one {@link GradientWork}: the AtP family's passes for a batch of pairs, on the calling thread. */
public final class GradientEstimator {
    private GradientEstimator() {}

    public static GradientEstimates run(HookedTransformer model, GradientWork work) {
        return run(model, work, null, null);
    }

    /**
     * Runs {@code work}. With {@code cached} (one clean side per pair, all of one length; not for GradDrop, which
     * needs the live graph) only the noise forward runs; otherwise the clean sides computed are handed to
     * {@code computed}, if given, before they are freed.
     */
    public static GradientEstimates run(
            HookedTransformer model, GradientWork work, List<CleanSide> cached, Consumer<List<CleanSide>> computed) {
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
                                CleanSide.stack(scope, cached))) {
            if (computed != null && cached == null) {
                computed.accept(pass.cleanRows());
            }
            Map<BlockKey, NDArray> onDevice = new LinkedHashMap<>();
            double passes;
            double compute;
            if (work.variant().gradDrop()) {
                double variants = GradDrop.scores(pass, layers, onDevice);
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
            Map<BlockKey, double[][]> estimates = new LinkedHashMap<>();
            if (work.sums().isEmpty()) {
                onDevice.forEach((g, values) -> estimates.put(g, readBack(values, work.sums())));
            } else {
                estimates.putAll(readBackSums(onDevice, work.sums()));
            }
            return new GradientEstimates(
                    estimates,
                    work.sums(),
                    pass.positions(),
                    pass.cleanMetrics(),
                    pass.noiseMetrics(),
                    new Cost(passes, compute, (System.nanoTime() - start) / 1e9),
                    false,
                    GradientEstimates.CacheUse.NOT_APPLICABLE);
        }
    }

    /**
     * Every block's sums at once: the blocks side by side [pair, every node], summed per group in one pass and
     * read in one copy, instead of a slice, sum and copy per block and group (five blocks a layer). Only for sums,
     * which are small (a row per group): every pair's own estimates are read block by block, so that the host never
     * holds them twice.
     */
    private static Map<BlockKey, double[][]> readBackSums(Map<BlockKey, NDArray> blocks, List<Integer> sums) {
        NDArray all = blocks.size() == 1
                ? blocks.values().iterator().next()
                : NDArrays.concat(new NDList(blocks.values()), 1);
        double[][] rows = readBack(all, sums);
        Map<BlockKey, double[][]> out = new LinkedHashMap<>();
        int from = 0;
        for (Map.Entry<BlockKey, NDArray> block : blocks.entrySet()) {
            int width = (int) block.getValue().getShape().get(1);
            double[][] part = new double[rows.length][];
            for (int r = 0; r < rows.length; r++) {
                part[r] = Arrays.copyOfRange(rows[r], from, from + width);
            }
            out.put(block.getKey(), part);
            from += width;
        }
        return out;
    }

    /**
     * Estimates [pair, node] as host rows, one per pair; or, with {@code sums}, one per group of pairs: the sum of
     * |estimate| over the group, taken on the device so that only the sums are copied.
     */
    private static double[][] readBack(NDArray values, List<Integer> sums) {
        NDArray rows = values;
        if (!sums.isEmpty()) {
            NDList groups = new NDList();
            int from = 0;
            for (int size : sums) {
                groups.add(values.get(new NDIndex("{}:{}", from, from + size))
                        .abs()
                        .sum(new int[] {0}));
                from += size;
            }
            rows = NDArrays.stack(groups);
        }
        int count = (int) rows.getShape().get(0);
        NDArray wide = rows.toType(DataType.FLOAT64, false);
        // Row by row, each read straight into its own array: reading all at once and then splitting made one
        // more pass over the data (311 MB for 16 pairs of the GPT-2-small shape at 64 tokens: 64-73 ms against
        // 36-57 here) and one array of all of it for the collector.
        double[][] out = new double[count][];
        for (int r = 0; r < count; r++) {
            try (NDArray row = wide.get(r)) {
                out[r] = row.toDoubleArray();
            }
        }
        return out;
    }
}
