package dev.patchbay.server.rpc;

import dev.patchbay.proto.v1.JobError;
import dev.patchbay.proto.v1.SweepEvent;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.function.BiConsumer;

/**
 * Where one request's events go: its own call, or a sweep's shared stream with the job's id on every event. Sends
 * are serialized, since a sweep's jobs run on several threads and a call must see one writer.
 */
interface EventSink<E> {
    void send(E event);

    /** The request finished normally. */
    void complete();

    /** The request failed with {@code status}; a sweep goes on with its other jobs. */
    void fail(Status status);

    static <E> EventSink<E> of(StreamObserver<E> call) {
        return new EventSink<>() {
            @Override
            public synchronized void send(E event) {
                call.onNext(event);
            }

            @Override
            public synchronized void complete() {
                call.onCompleted();
            }

            @Override
            public synchronized void fail(Status status) {
                call.onError(status.asRuntimeException());
            }
        };
    }

    /**
     * A sweep job's events, each put in the sweep's event by {@code wrap} (the field of the job's operation) and tagged
     * with the job's id.
     */
    static <E> EventSink<E> inSweep(
            Object lock,
            StreamObserver<SweepEvent> sweep,
            String jobId,
            BiConsumer<SweepEvent.Builder, E> wrap,
            Runnable finished) {
        return new EventSink<>() {
            @Override
            public void send(E event) {
                SweepEvent.Builder out = SweepEvent.newBuilder().setJobId(jobId);
                wrap.accept(out, event);
                synchronized (lock) {
                    sweep.onNext(out.build());
                }
            }

            @Override
            public void complete() {
                finished.run();
            }

            @Override
            public void fail(Status status) {
                synchronized (lock) {
                    sweep.onNext(SweepEvent.newBuilder()
                            .setJobId(jobId)
                            .setError(JobError.newBuilder()
                                    .setCode(status.getCode().name())
                                    .setMessage(String.valueOf(status.getDescription())))
                            .build());
                }
                finished.run();
            }
        };
    }
}
