package dev.patchbay.research.bench;

import dev.patchbay.attribution.AtP;
import dev.patchbay.attribution.AttributionListener;
import dev.patchbay.execution.Device;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.GradientEstimates;
import dev.patchbay.passes.GradientVariant;
import dev.patchbay.passes.GradientWork;
import dev.patchbay.passes.PairBatch;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.SweepEvent;
import dev.patchbay.proto.v1.SweepRequest;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * AtP's signed effect of every node at every position for each pair of a sweep on its own: the result a
 * researcher asks for per prompt (the paper's eq. 4), not a distribution's mean. Three ways: the engine's passes
 * called with a batch of pairs; each pair a job of its own with a window of them in flight, so that the device merges
 * their passes into batches, as the server does for a sweep of single-pair jobs; and such a sweep through gRPC. Each
 * returns how many effects came back, so that a run that returned fewer than it should fails instead of passing as
 * fast.
 */
final class PerPairSweep {
    private PerPairSweep() {}

    /**
     * In-process, the engine alone: {@link Benchmark#SWEEP_WINDOW} pairs a call to the passes, each pair's estimates
     * returned as its own rows (what the device runs for a merged batch of single-pair jobs).
     */
    static long batched(HookedTransformer model, List<PromptPair> pairs, NodeSet nodes) {
        PassRunner runner = PassRunner.direct(model);
        long effects = 0;
        for (List<PromptPair> batch : PairBatch.split(pairs, Benchmark.SWEEP_WINDOW)) {
            GradientEstimates e = runner.run(new GradientWork(batch, nodes, GradientVariant.ATP));
            for (double[][] rows : e.estimates().values()) {
                for (double[] row : rows) {
                    effects += row.length;
                }
            }
        }
        return effects;
    }

    /** In-process: each pair's AtP on a thread of {@code pool} (its size is the window), through the device's queue. */
    static long inProcess(Device device, List<PromptPair> pairs, NodeSet nodes, ExecutorService pool) {
        List<Future<Long>> jobs = new ArrayList<>();
        for (int i = 0; i < pairs.size(); i++) {
            PromptPair pair = pairs.get(i);
            String id = "pair-" + i;
            jobs.add(pool.submit(() -> {
                try (Device.Job job = device.open(id, () -> true)) {
                    return new AtP(false, 1)
                            .run(job.runner(), List.of(pair), nodes, AttributionListener.NONE).blocks().stream()
                                    .mapToLong(EffectBlock::size)
                                    .sum();
                }
            }));
        }
        long effects = 0;
        try {
            for (Future<Long> f : jobs) {
                effects += f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
        return effects;
    }

    /** The effects a block carries, packed (as both clients ask) or in the repeated field. */
    private static long values(dev.patchbay.proto.v1.EffectBlock block) {
        return switch (block.getEncoding()) {
            case FLOAT32_LE -> block.getPacked().size() / Float.BYTES;
            case FLOAT64_LE -> block.getPacked().size() / Double.BYTES;
            default -> block.getValuesCount();
        };
    }

    /** Through gRPC: the jobs on one Sweep stream; the server's sweep window bounds how many run at once. */
    static long served(ManagedChannel channel, List<AttributeRequest> jobs) {
        CountDownLatch ended = new CountDownLatch(1);
        AtomicLong effects = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        StreamObserver<SweepRequest> requests = PatchbayGrpc.newStub(channel).sweep(new StreamObserver<>() {
            @Override
            public void onNext(SweepEvent event) {
                if (event.hasError()) {
                    failure.compareAndSet(
                            null,
                            new IllegalStateException("job " + event.getJobId() + ": "
                                    + event.getError().getCode() + " "
                                    + event.getError().getMessage()));
                } else if (event.getAttribute().hasBlock()) {
                    effects.addAndGet(values(event.getAttribute().getBlock()));
                }
            }

            @Override
            public void onError(Throwable t) {
                failure.compareAndSet(null, t);
                ended.countDown();
            }

            @Override
            public void onCompleted() {
                ended.countDown();
            }
        });
        for (int i = 0; i < jobs.size(); i++) {
            requests.onNext(SweepRequest.newBuilder()
                    .setJobId("pair-" + i)
                    .setJob(jobs.get(i))
                    .build());
        }
        requests.onCompleted();
        try {
            if (!ended.await(1, TimeUnit.HOURS)) {
                throw new IllegalStateException("the sweep did not end within an hour");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        if (failure.get() != null) {
            throw new IllegalStateException("the sweep failed", failure.get());
        }
        return effects.get();
    }
}
