package dev.patchbay.execution;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.ToyModels;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.nodes.BlockKey;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.GradientEstimates;
import dev.patchbay.passes.GradientVariant;
import dev.patchbay.passes.GradientWork;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * A distribution's estimates come back as per-node sums of |estimate| over each request's pairs, taken on the
 * device; when the device merges several requests into one batch, each must get the sums of its own pairs.
 */
class SummedGradientsTest {
    @Test
    void aSliceOfSummedEstimatesIsTheRowsOfItsOwnGroups() {
        BlockKey key = new BlockKey(NodeKind.HEAD_OUTPUT, 0);
        Map<BlockKey, double[][]> rows = new LinkedHashMap<>();
        rows.put(key, new double[][] {{1, 1}, {2, 2}, {3, 3}});
        GradientEstimates all = new GradientEstimates(
                rows,
                List.of(2, 1, 3),
                null,
                new double[] {0, 1, 2, 3, 4, 5},
                new double[] {0, 1, 2, 3, 4, 5},
                new Cost(6, 6, 1),
                GradientEstimates.CacheUse.NOT_APPLICABLE);
        GradientEstimates middle = all.slice(2, 1);
        assertArrayEquals(new double[][] {{2, 2}}, middle.estimates().get(key));
        assertEquals(List.of(1), middle.sums());
        assertArrayEquals(new double[] {2}, middle.cleanMetrics());
        GradientEstimates firstTwo = all.slice(0, 3);
        assertArrayEquals(new double[][] {{1, 1}, {2, 2}}, firstTwo.estimates().get(key));
        assertArrayEquals(new double[][] {{3, 3}}, all.slice(3, 3).estimates().get(key));
        assertThrows(IllegalArgumentException.class, () -> all.slice(1, 1), "a slice must start a group");
    }

    @Test
    void requestsMergedIntoOneBatchEachGetTheirOwnSums() throws Exception {
        try (LoadedModel loaded = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT64);
                Device device = new Device(
                        "tiny-gpt2",
                        loaded.transformer(),
                        // No queue delay: the device is held until both requests' passes are queued, so they
                        // share a batch on hardware of any speed.
                        new SchedulerConfig(32, 8192, Duration.ZERO, 0))) {
            PromptPair a = ToyModels.pair("tiny-gpt2");
            PromptPair b = new PromptPair(a.noise(), a.clean(), Metric.logitDiff(new int[] {7}, new int[] {3}));
            NodeSet nodes = new NodeSet(EnumSet.of(NodeKind.HEAD_OUTPUT, NodeKind.NEURON), null, true, null);
            List<List<PromptPair>> requests = List.of(List.of(a, b), List.of(b, b, a));
            ExecutorService threads = Executors.newFixedThreadPool(requests.size());
            List<Future<GradientEstimates>> merged = new ArrayList<>();
            List<Device.Job> jobs = new ArrayList<>();
            try {
                try (Device.Hold held = device.hold()) {
                    for (int r = 0; r < requests.size(); r++) {
                        List<PromptPair> pairs = requests.get(r);
                        Device.Job job = device.open("r" + r, () -> true);
                        jobs.add(job);
                        merged.add(threads.submit(
                                () -> job.runner().run(GradientWork.summed(pairs, nodes, GradientVariant.ATP))));
                    }
                    assertTrue(device.awaitQueued(requests.size(), Duration.ofMinutes(1)), "passes never queued");
                }
                for (int r = 0; r < requests.size(); r++) {
                    GradientEstimates together = merged.get(r).get();
                    assertEquals(1, jobs.get(r).tally().sharedBatches(), "the requests must have shared a batch");
                    GradientEstimates alone;
                    try (Device.Job job = device.open("alone" + r, () -> true)) {
                        alone = job.runner().run(GradientWork.summed(requests.get(r), nodes, GradientVariant.ATP));
                    }
                    assertEquals(List.of(requests.get(r).size()), together.sums());
                    for (BlockKey key : alone.estimates().keySet()) {
                        double[] expected = alone.estimates().get(key)[0];
                        double[] got = together.estimates().get(key)[0];
                        for (int i = 0; i < expected.length; i++) {
                            assertEquals(expected[i], got[i], 1e-9 * (1 + Math.abs(expected[i])), key + " " + i);
                        }
                    }
                }
            } finally {
                threads.shutdownNow();
                jobs.forEach(Device.Job::close);
            }
        }
    }
}
