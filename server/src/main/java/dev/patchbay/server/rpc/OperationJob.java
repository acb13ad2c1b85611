package dev.patchbay.server.rpc;

import dev.patchbay.execution.Device;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.server.mapping.Prepared;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request of any RPC, run on its own thread: its operation's work (its passes queue on the model's device),
 * sending its events to the request's {@link EventSink}. A failure becomes the request's status: a refusal the engine
 * finds only as it runs (an {@link InvalidRequest}) its INVALID_ARGUMENT or RESOURCE_EXHAUSTED; cancellation
 * UNAVAILABLE when the server is stopping (else the call is already gone); anything else, an
 * {@link IllegalArgumentException} included, INTERNAL: a bug of Patchbay's, logged with the request id.
 */
final class OperationJob<E> implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(OperationJob.class);

    /** What a request still running when the server stops gets: a client may retry it elsewhere. */
    static final Status STOPPING =
            Status.UNAVAILABLE.withDescription("the server is shutting down; retry on another server");

    private final Prepared<E> request;
    private final Device.Job job;
    private final EventSink<E> sink;
    private final BooleanSupplier serverStopping;
    private final AccessLog.Entry access;

    OperationJob(Prepared<E> request, Device.Job job, EventSink<E> sink, BooleanSupplier serverStopping) {
        this.request = request;
        this.job = job;
        this.sink = sink;
        this.serverStopping = serverStopping;
        // Made on the call's handler thread, where the call's access-log entry is current.
        this.access = AccessLog.current();
        access.request(job.id(), request.method(), request.what(), request.pairs());
    }

    @Override
    public void run() {
        try (job) {
            request.work().run(job.runner(), new Prepared.Output<>(job.id(), sink::send, access::passes));
            sink.complete();
        } catch (CancellationException e) {
            log.info("request {} cancelled", job.id());
            if (serverStopping.getAsBoolean()) {
                fail(STOPPING);
            }
        } catch (InvalidRequest e) {
            fail((e.kind() == InvalidRequest.Kind.TOO_LARGE ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT)
                    .withDescription(e.getMessage()));
        } catch (StatusRuntimeException e) {
            log.info("request {} ended: {}", job.id(), e.getStatus());
        } catch (RuntimeException | Error e) {
            log.error("request {} failed", job.id(), e);
            fail(Status.INTERNAL.withDescription("request " + job.id() + " failed: " + e));
        }
    }

    private void fail(Status status) {
        try {
            sink.fail(status);
        } catch (RuntimeException e) {
            log.debug("could not report the failure of {}: {}", job.id(), e.toString());
        }
    }
}
