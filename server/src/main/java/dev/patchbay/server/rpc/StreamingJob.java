package dev.patchbay.server.rpc;

import dev.patchbay.execution.Device;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A request that streams events of type {@code E} to its own call from its own thread: what AttributeEdges,
 * EvaluateCircuit and DiscoverCircuit share. Sends are serialized; the call completes when {@link #work} returns, and
 * a failure becomes the call's status (INVALID_ARGUMENT for a bad request the engine found, UNAVAILABLE when the
 * server is stopping, INTERNAL otherwise, logged with the request id).
 */
abstract class StreamingJob<E> implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(StreamingJob.class);

    final Device.Job job;
    private final StreamObserver<E> call;
    private final BooleanSupplier serverStopping;

    StreamingJob(Device.Job job, StreamObserver<E> call, BooleanSupplier serverStopping) {
        this.job = job;
        this.call = call;
        this.serverStopping = serverStopping;
    }

    /** The request's work, sending its events; runs on the job's thread, its passes on the model's device. */
    abstract void work();

    @Override
    public final void run() {
        try (job) {
            work();
            synchronized (call) {
                call.onCompleted();
            }
        } catch (CancellationException e) {
            log.info("request {} cancelled", job.id());
            if (serverStopping.getAsBoolean()) {
                fail(PatchbayService.stoppingStatus());
            }
        } catch (IllegalArgumentException e) {
            fail(Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
        } catch (io.grpc.StatusRuntimeException e) {
            log.info("request {} ended: {}", job.id(), e.getStatus());
        } catch (RuntimeException | Error e) {
            log.error("request {} failed", job.id(), e);
            fail(Status.INTERNAL.withDescription("request " + job.id() + " failed: " + e));
        }
    }

    void send(E event) {
        synchronized (call) {
            call.onNext(event);
        }
    }

    private void fail(Status status) {
        try {
            synchronized (call) {
                call.onError(status.asRuntimeException());
            }
        } catch (RuntimeException e) {
            log.debug("could not report the failure of {}: {}", job.id(), e.toString());
        }
    }
}
