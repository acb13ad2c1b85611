package dev.patchbay.server.rpc;

import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.execution.Device;
import dev.patchbay.execution.ResidentMemory;
import dev.patchbay.proto.v1.AttributeEdgesEvent;
import dev.patchbay.proto.v1.AttributeEdgesRequest;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeFeaturesEvent;
import dev.patchbay.proto.v1.AttributeFeaturesRequest;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.CircuitEvent;
import dev.patchbay.proto.v1.DiscoverCircuitRequest;
import dev.patchbay.proto.v1.DiscoveryEvent;
import dev.patchbay.proto.v1.EvaluateCircuitRequest;
import dev.patchbay.proto.v1.GenerateEvent;
import dev.patchbay.proto.v1.GenerateRequest;
import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.ListModelsResponse;
import dev.patchbay.proto.v1.Metrics;
import dev.patchbay.proto.v1.MetricsRequest;
import dev.patchbay.proto.v1.ModelMetrics;
import dev.patchbay.proto.v1.PatchEvent;
import dev.patchbay.proto.v1.PatchRequest;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.ScrubEvent;
import dev.patchbay.proto.v1.ScrubRequest;
import dev.patchbay.proto.v1.SteeringVectorRequest;
import dev.patchbay.proto.v1.SteeringVectorResponse;
import dev.patchbay.proto.v1.SweepEvent;
import dev.patchbay.proto.v1.SweepRequest;
import dev.patchbay.proto.v1.TokenizeRequest;
import dev.patchbay.proto.v1.TokenizeResponse;
import dev.patchbay.server.config.ServerLimits;
import dev.patchbay.server.mapping.AttributeEdgesMapper;
import dev.patchbay.server.mapping.AttributeFeaturesMapper;
import dev.patchbay.server.mapping.AttributeMapper;
import dev.patchbay.server.mapping.CircuitMapper;
import dev.patchbay.server.mapping.GenerateMapper;
import dev.patchbay.server.mapping.Inputs;
import dev.patchbay.server.mapping.PatchMapper;
import dev.patchbay.server.mapping.Prepared;
import dev.patchbay.server.mapping.Protos;
import dev.patchbay.server.mapping.RequestException;
import dev.patchbay.server.mapping.ScrubMapper;
import dev.patchbay.server.mapping.ServedModel;
import dev.patchbay.server.mapping.SteeringVectorMapper;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * The Patchbay gRPC service. Handlers run on gRPC's threads and only check requests; each request's work runs
 * on a job thread, and its passes on the model's device thread.
 */
public final class PatchbayService extends PatchbayGrpc.PatchbayImplBase {
    private final Map<String, ServedModel> models;
    private final Inputs inputs;
    private final ExecutorService jobs;
    private final ServerLimits limits;
    private final AtomicLong ids = new AtomicLong();
    /** Running jobs, so that a stopping server can end them. */
    private final Set<Device.Job> runningJobs = ConcurrentHashMap.newKeySet();

    private volatile boolean stopping;

    private final AccessLog accessLog;
    private final long startedAt = System.nanoTime();

    public PatchbayService(
            Map<String, ServedModel> models, ServerLimits limits, ExecutorService jobs, AccessLog accessLog) {
        this.accessLog = accessLog;
        this.models = Map.copyOf(models);
        this.limits = limits;
        this.inputs = new Inputs(this.models, limits);
        this.jobs = jobs;
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> response) {
        ListModelsResponse.Builder out = ListModelsResponse.newBuilder();
        models.entrySet().stream()
                .sorted(Map.Entry.comparingByKey())
                .forEach(e -> out.addModels(Protos.model(
                        e.getKey(),
                        e.getValue().config(),
                        e.getValue().loaded().transformer().hookSites(),
                        e.getValue().device().dtype(),
                        e.getValue().loaded().transformer().compute().device().toString(),
                        e.getValue().loaded().dictionaries().all())));
        response.onNext(out.build());
        response.onCompleted();
    }

    @Override
    public void getMetrics(MetricsRequest request, StreamObserver<Metrics> response) {
        Metrics.Builder out = Metrics.newBuilder()
                .putAllCallsByStatus(accessLog.callsByStatus())
                .setResidentBytes(ResidentMemory.currentBytesOrZero())
                .setUptimeSeconds((System.nanoTime() - startedAt) / 1e9);
        models.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            Device d = e.getValue().device();
            var stats = d.cache().stats();
            out.addModels(ModelMetrics.newBuilder()
                    .setModel(e.getKey())
                    .setOpenRequests(d.openJobs())
                    .setBatches(d.batches())
                    .setSharedBatches(d.sharedBatches())
                    .setPasses(d.passes())
                    .setCacheHits(stats.hitCount())
                    .setCacheMisses(stats.missCount())
                    .setCacheBytes(d.cache().weightedBytes())
                    .setCacheEntries(d.cache().entries())
                    .setMemoryBudgetBytes(d.memoryBudget()));
        });
        response.onNext(out.build());
        response.onCompleted();
    }

    @Override
    public void tokenize(TokenizeRequest request, StreamObserver<TokenizeResponse> response) {
        try {
            String text = inputs.text(request.getText(), "text");
            TextTokenizer.Tokens tokens;
            try {
                TextTokenizer tokenizer = Inputs.tokenizer(inputs.model(request.getModel()), "model");
                tokens = request.getAllowUnknownTokens() ? tokenizer.encode(text) : tokenizer.encodeKnown(text);
            } catch (IllegalArgumentException e) {
                throw RequestException.invalid(
                        "text: " + e.getMessage() + " (set allow_unknown_tokens to read it as the unknown token)");
            }
            response.onNext(TokenizeResponse.newBuilder()
                    .addAllIds(Arrays.stream(tokens.ids()).boxed().toList())
                    .addAllTokens(Arrays.asList(tokens.strings()))
                    .build());
            response.onCompleted();
        } catch (RequestException e) {
            response.onError(e.status().asRuntimeException());
        }
    }

    @Override
    public void attribute(AttributeRequest request, StreamObserver<AttributeEvent> response) {
        run(response, () -> AttributeMapper.prepare(inputs, request));
    }

    @Override
    public void attributeEdges(AttributeEdgesRequest request, StreamObserver<AttributeEdgesEvent> response) {
        run(response, () -> AttributeEdgesMapper.prepare(inputs, request));
    }

    @Override
    public void attributeFeatures(AttributeFeaturesRequest request, StreamObserver<AttributeFeaturesEvent> response) {
        run(response, () -> AttributeFeaturesMapper.prepare(inputs, request));
    }

    @Override
    public void evaluateCircuit(EvaluateCircuitRequest request, StreamObserver<CircuitEvent> response) {
        run(response, () -> CircuitMapper.evaluate(inputs, request));
    }

    @Override
    public void discoverCircuit(DiscoverCircuitRequest request, StreamObserver<DiscoveryEvent> response) {
        run(response, () -> CircuitMapper.discover(inputs, request));
    }

    @Override
    public void scrub(ScrubRequest request, StreamObserver<ScrubEvent> response) {
        run(response, () -> ScrubMapper.prepare(inputs, request));
    }

    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateEvent> response) {
        run(response, () -> GenerateMapper.prepare(inputs, request));
    }

    @Override
    public void makeSteeringVector(SteeringVectorRequest request, StreamObserver<SteeringVectorResponse> response) {
        run(response, () -> SteeringVectorMapper.prepare(inputs, request));
    }

    @Override
    public void patch(PatchRequest request, StreamObserver<PatchEvent> response) {
        run(response, () -> PatchMapper.prepare(inputs, request));
    }

    /** Checks a request; a refusal carries its status. */
    @FunctionalInterface
    private interface Prepare<E> {
        Prepared<E> prepare() throws RequestException;
    }

    /**
     * Every job-running call: the request checked and planned, a job opened on its model's device and the work
     * started on its own thread; a refusal ends the call with its status.
     */
    private <E> void run(StreamObserver<E> response, Prepare<E> prepare) {
        var call = (ServerCallStreamObserver<E>) response;
        try {
            Prepared<E> prepared = prepare.prepare();
            Device.Job job = openJob(prepared.model().device(), call);
            start(job, call, new OperationJob<>(prepared, job, EventSink.of(call), this::stopping));
        } catch (RequestException e) {
            response.onError(e.status().asRuntimeException());
        } catch (IllegalArgumentException e) {
            // A value the engine refused as the request was read (a prompt pair, a metric): the caller's.
            response.onError(
                    Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        }
    }

    /**
     * A job paced by the call's readiness, whose queued passes are dropped at the call's deadline (the
     * cancellation that a passed deadline also raises reaches the running pass's request thread).
     */
    private Device.Job open(Device device, ServerCallStreamObserver<?> call) {
        Deadline deadline = Context.current().getDeadline();
        if (deadline == null) {
            return device.open(nextId(), call::isReady);
        }
        Instant at = Instant.now().plusNanos(deadline.timeRemaining(TimeUnit.NANOSECONDS));
        return device.open(nextId(), call::isReady, at);
    }

    /**
     * Ends every running request: each gets UNAVAILABLE (the client may retry elsewhere) instead of its result.
     * For a server that has stopped accepting calls and waited for them to drain.
     */
    public void stopRunning() {
        stopping = true;
        runningJobs.forEach(Device.Job::cancel);
    }

    /** Whether requests are being ended because the server stops; a cancelled job then answers UNAVAILABLE. */
    boolean stopping() {
        return stopping;
    }

    /** A job on {@code device} that the call's cancellation (or deadline) cancels and its readiness paces. */
    private Device.Job openJob(Device device, ServerCallStreamObserver<?> call) {
        Device.Job job = open(device, call);
        call.setOnCancelHandler(job::cancel);
        call.setOnReadyHandler(device::wake);
        return job;
    }

    @Override
    public StreamObserver<SweepRequest> sweep(StreamObserver<SweepEvent> response) {
        var call = (ServerCallStreamObserver<SweepEvent>) response;
        // Read jobs only as fast as they run: a window of them at a time, the next when one finishes.
        call.disableAutoRequest();
        call.request(limits.sweepWindow());
        Sweep sweep = new Sweep(call);
        call.setOnCancelHandler(sweep::cancel);
        call.setOnReadyHandler(() -> models.values().forEach(m -> m.device().wake()));
        return sweep;
    }

    /**
     * One Sweep call: jobs of any streaming operation in from the client, their events out, tagged with the client's
     * job ids.
     */
    private final class Sweep implements StreamObserver<SweepRequest> {
        private final ServerCallStreamObserver<SweepEvent> call;
        private final Object lock = new Object();
        private final AtomicInteger running = new AtomicInteger();
        private final java.util.Set<Device.Job> active = java.util.concurrent.ConcurrentHashMap.newKeySet();
        private volatile boolean halfClosed;
        private volatile boolean ended;
        /** The job ids seen so far: events are told apart by them alone. onNext is called serially. */
        private final java.util.Set<String> jobIds = new java.util.HashSet<>();

        Sweep(ServerCallStreamObserver<SweepEvent> call) {
            this.call = call;
        }

        @Override
        public void onNext(SweepRequest request) {
            running.incrementAndGet();
            String id = request.getJobId();
            String wrongId = id.isEmpty()
                    ? "job_id: empty; give each job of a sweep an id of its own (its events carry it)"
                    : id.length() > MAX_JOB_ID_CHARS
                            ? "job_id: " + id.length() + " characters, over " + MAX_JOB_ID_CHARS
                            : !jobIds.add(id)
                                    ? "job_id: '" + id + "' is an earlier job's of this sweep; its events could not be"
                                            + " told apart"
                                    : null;
            if (wrongId != null) {
                EventSink.inSweep(lock, call, ErrorText.echo(id), (b, e) -> {}, this::finished)
                        .fail(Status.INVALID_ARGUMENT.withDescription(wrongId));
                return;
            }
            switch (request.getRequestCase()) {
                case JOB ->
                    submit(
                            request,
                            () -> AttributeMapper.prepare(inputs, request.getJob()),
                            SweepEvent.Builder::setAttribute);
                case ATTRIBUTE_FEATURES ->
                    submit(
                            request,
                            () -> AttributeFeaturesMapper.prepare(inputs, request.getAttributeFeatures()),
                            SweepEvent.Builder::setAttributeFeatures);
                case ATTRIBUTE_EDGES ->
                    submit(
                            request,
                            () -> AttributeEdgesMapper.prepare(inputs, request.getAttributeEdges()),
                            SweepEvent.Builder::setAttributeEdges);
                case EVALUATE_CIRCUIT ->
                    submit(
                            request,
                            () -> CircuitMapper.evaluate(inputs, request.getEvaluateCircuit()),
                            SweepEvent.Builder::setEvaluateCircuit);
                case DISCOVER_CIRCUIT ->
                    submit(
                            request,
                            () -> CircuitMapper.discover(inputs, request.getDiscoverCircuit()),
                            SweepEvent.Builder::setDiscoverCircuit);
                case SCRUB ->
                    submit(
                            request,
                            () -> ScrubMapper.prepare(inputs, request.getScrub()),
                            SweepEvent.Builder::setScrub);
                case GENERATE ->
                    submit(
                            request,
                            () -> GenerateMapper.prepare(inputs, request.getGenerate()),
                            SweepEvent.Builder::setGenerate);
                case PATCH ->
                    submit(
                            request,
                            () -> PatchMapper.prepare(inputs, request.getPatch()),
                            SweepEvent.Builder::setPatch);
                case REQUEST_NOT_SET ->
                    EventSink.inSweep(lock, call, request.getJobId(), (b, e) -> {}, this::finished)
                            .fail(Status.INVALID_ARGUMENT.withDescription("request: a sweep job names its operation's"
                                    + " request (job for Attribute, attribute_edges, evaluate_circuit, discover_circuit,"
                                    + " scrub, generate or patch)"));
            }
        }

        /** One job: checked and planned on this thread, run on a job thread, its events into the sweep. */
        private <E> void submit(SweepRequest request, Prepare<E> prepare, BiConsumer<SweepEvent.Builder, E> wrap) {
            EventSink<E> sink = EventSink.inSweep(lock, call, request.getJobId(), wrap, this::finished);
            Prepared<E> parsed;
            try {
                parsed = prepare.prepare();
            } catch (RequestException e) {
                sink.fail(e.status());
                return;
            } catch (IllegalArgumentException e) {
                sink.fail(Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
                return;
            }
            Device device = parsed.model().device();
            Device.Job job = open(device, call);
            active.add(job);
            runningJobs.add(job);
            try {
                jobs.execute(() -> {
                    try {
                        new OperationJob<>(parsed, job, sink, PatchbayService.this::stopping).run();
                    } finally {
                        active.remove(job);
                        runningJobs.remove(job);
                    }
                });
            } catch (RejectedExecutionException e) {
                active.remove(job);
                runningJobs.remove(job);
                job.close();
                sink.fail(Status.RESOURCE_EXHAUSTED.withDescription(
                        "the server is running its limit of " + limits.maxConcurrentJobs() + " requests; retry later"));
            }
        }

        private void finished() {
            if (!ended) {
                call.request(1);
            }
            if (running.decrementAndGet() == 0 && halfClosed) {
                end();
            }
        }

        @Override
        public void onError(Throwable t) {
            cancel();
        }

        @Override
        public void onCompleted() {
            halfClosed = true;
            if (running.get() == 0) {
                end();
            }
        }

        private void end() {
            synchronized (lock) {
                if (!ended) {
                    ended = true;
                    call.onCompleted();
                }
            }
        }

        void cancel() {
            ended = true;
            active.forEach(Device.Job::cancel);
        }
    }

    private void start(Device.Job job, ServerCallStreamObserver<?> call, Runnable work) {
        runningJobs.add(job);
        try {
            jobs.execute(() -> {
                try {
                    work.run();
                } finally {
                    runningJobs.remove(job);
                }
            });
        } catch (RejectedExecutionException e) {
            runningJobs.remove(job);
            job.close();
            call.onError(Status.RESOURCE_EXHAUSTED
                    .withDescription("the server is running its limit of " + limits.maxConcurrentJobs()
                            + " requests; retry later")
                    .asRuntimeException());
        }
    }

    /** The longest job id a sweep takes: it is echoed on every event of its job. */
    static final int MAX_JOB_ID_CHARS = ErrorText.MAX_ECHO;

    private String nextId() {
        return "r" + ids.incrementAndGet();
    }
}
