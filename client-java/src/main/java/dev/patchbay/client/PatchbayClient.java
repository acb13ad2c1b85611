package dev.patchbay.client;

import dev.patchbay.proto.v1.AttributeEdgesEvent;
import dev.patchbay.proto.v1.AttributeEdgesRequest;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeFeaturesEvent;
import dev.patchbay.proto.v1.AttributeFeaturesRequest;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.CircuitEvent;
import dev.patchbay.proto.v1.DiscoverCircuitRequest;
import dev.patchbay.proto.v1.DiscoveryEvent;
import dev.patchbay.proto.v1.EffectBlock;
import dev.patchbay.proto.v1.EvaluateCircuitRequest;
import dev.patchbay.proto.v1.GenerateEvent;
import dev.patchbay.proto.v1.GenerateRequest;
import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.Metrics;
import dev.patchbay.proto.v1.MetricsRequest;
import dev.patchbay.proto.v1.ModelInfo;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.ScrubEvent;
import dev.patchbay.proto.v1.ScrubRequest;
import dev.patchbay.proto.v1.SteeringVectorRequest;
import dev.patchbay.proto.v1.SteeringVectorResponse;
import dev.patchbay.proto.v1.TokenizeRequest;
import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.Context;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A connection to a Patchbay server.
 * <pre>{@code
 * try (PatchbayClient client = PatchbayClient.connect("localhost:50051");
 *      Stream<AttributionEvent> events = client.attribute(request)) {
 *     events.forEach(System.out::println);   // closing the stream early cancels the request
 * }
 * }</pre>
 */
public final class PatchbayClient implements AutoCloseable {
    private final ManagedChannel channel;
    private final boolean ownsChannel;
    private final Duration timeout;
    private final CallCredentials callCredentials;

    private PatchbayClient(
            ManagedChannel channel, boolean ownsChannel, Duration timeout, CallCredentials callCredentials) {
        this.channel = channel;
        this.ownsChannel = ownsChannel;
        this.timeout = timeout;
        this.callCredentials = callCredentials;
    }

    /**
     * Connects to {@code target}, e.g. "localhost:50051" (plaintext). A target that resolves to several replicas
     * (a {@code dns:///} name with several A records, such as a Kubernetes headless service) spreads the calls
     * round-robin over the replicas that report SERVING on the standard health service.
     */
    public static PatchbayClient connect(String target) {
        return connect(target, InsecureChannelCredentials.create());
    }

    /** Connects to a fixed list of replicas, "host:port" each, as {@link #connect(String)} does to a name. */
    public static PatchbayClient connect(List<String> replicas) {
        return connect(Replicas.staticTarget(replicas));
    }

    /** As {@link #connect(List)}, with gRPC's channel credentials. */
    public static PatchbayClient connect(List<String> replicas, ChannelCredentials credentials) {
        return connect(Replicas.staticTarget(replicas), credentials);
    }

    /**
     * Connects to {@code target} with gRPC's channel credentials, e.g. {@code TlsChannelCredentials.newBuilder()
     * .trustManager(caFile).build()} for a server started with --tls-cert, plus {@code .keyManager(cert, key)}
     * where it requires client certificates.
     */
    public static PatchbayClient connect(String target, ChannelCredentials credentials) {
        return new PatchbayClient(
                Grpc.newChannelBuilder(target, credentials)
                        .maxInboundMessageSize(64 << 20)
                        .defaultServiceConfig(Replicas.SERVICE_CONFIG)
                        .build(),
                true,
                Duration.ofMinutes(10),
                null);
    }

    /** A client over a channel the caller owns (and closes). */
    public static PatchbayClient over(ManagedChannel channel) {
        return new PatchbayClient(channel, false, Duration.ofMinutes(10), null);
    }

    /** The same connection with another deadline for each call (the default is 10 minutes). */
    public PatchbayClient withTimeout(Duration timeout) {
        return new PatchbayClient(channel, false, timeout, callCredentials);
    }

    /**
     * The same connection, sending {@code token} with every call to a server started with --auth-tokens. Over
     * plaintext the token crosses the network readable: use TLS beyond loopback.
     */
    public PatchbayClient withBearerToken(String token) {
        return new PatchbayClient(channel, false, timeout, new BearerToken(token));
    }

    public List<ModelInfo> models() {
        try {
            return stub().listModels(ListModelsRequest.getDefaultInstance()).getModelsList();
        } catch (StatusRuntimeException e) {
            throw new PatchbayException(e.getStatus(), e);
        }
    }

    /** The server's counters: calls by status, and per model the queue, batches, cache and memory budget. */
    public Metrics metrics() {
        try {
            return stub().getMetrics(MetricsRequest.getDefaultInstance());
        } catch (StatusRuntimeException e) {
            throw new PatchbayException(e.getStatus(), e);
        }
    }

    /** Token ids and strings of {@code text}. */
    public record Tokens(List<Integer> ids, List<String> tokens) {}

    public Tokens tokenize(String model, String text) {
        try {
            var r = stub().tokenize(TokenizeRequest.newBuilder()
                    .setModel(model)
                    .setText(text)
                    .build());
            return new Tokens(r.getIdsList(), r.getTokensList());
        } catch (StatusRuntimeException e) {
            throw new PatchbayException(e.getStatus(), e);
        }
    }

    /**
     * Streams an Attribute call's events as they arrive. Close the stream when done: closing it before the
     * end cancels the request on the server. A refused or failed request throws {@link PatchbayException}.
     */
    public Stream<AttributionEvent> attribute(AttributeRequest request) {
        return streaming(() -> stub().attribute(request), PatchbayClient::convert);
    }

    /**
     * Streams an AttributeEdges call's events as they arrive (Accepted, progress, one EdgeBlock per reader group,
     * verified edges, the diagnostic, a Summary); {@link EdgeResults#collect} turns them into rows. Close the
     * stream when done: closing it before the end cancels the request on the server. A refused or failed request
     * throws {@link PatchbayException}.
     */
    public Stream<AttributeEdgesEvent> attributeEdges(AttributeEdgesRequest request) {
        return streaming(() -> stub().attributeEdges(request), e -> e);
    }

    /**
     * Streams an AttributeFeatures call's events as they arrive (Accepted, progress, one sparse FeatureBlock per pair
     * and dictionary, verified feature nodes, each dictionary's diagnostic, a Summary); {@link FeatureResults#collect}
     * turns them into rows. Closing the stream early cancels the request; a refused or failed request throws
     * {@link PatchbayException}.
     */
    public Stream<AttributeFeaturesEvent> attributeFeatures(AttributeFeaturesRequest request) {
        return streaming(() -> stub().attributeFeatures(request), e -> e);
    }

    /**
     * Streams an EvaluateCircuit call's events: each circuit's (or prune-curve point's) faithfulness as it completes,
     * then a Summary. Closing the stream early cancels the request.
     */
    public Stream<CircuitEvent> evaluateCircuit(EvaluateCircuitRequest request) {
        return streaming(() -> stub().evaluateCircuit(request), e -> e);
    }

    /**
     * Streams a DiscoverCircuit call's events: every check of the search as it is made, then the circuit found and
     * a Summary. Closing the stream early cancels the request.
     */
    public Stream<DiscoveryEvent> discoverCircuit(DiscoverCircuitRequest request) {
        return streaming(() -> stub().discoverCircuit(request), e -> e);
    }

    /**
     * Streams a Scrub call's events: each sample of the causal scrubbing as its chunk completes, then the result (the
     * fraction of the behaviour the hypothesis explains, with its interval) and a Summary. Closing the stream early
     * cancels the request.
     */
    public Stream<ScrubEvent> scrub(ScrubRequest request) {
        return streaming(() -> stub().scrub(request), e -> e);
    }

    /**
     * Streams a Generate call's events: each new token as its step completes (with its log-probability and top
     * alternatives), then each prompt's continuation and a Summary. Closing the stream early cancels the request.
     */
    public Stream<GenerateEvent> generate(GenerateRequest request) {
        return streaming(() -> stub().generate(request), e -> e);
    }

    /**
     * Makes a steering vector by contrastive activation addition; the server keeps it under the request's name for
     * interventions of later Generate requests ({@code Intervention.vector}).
     */
    public SteeringVectorResponse makeSteeringVector(SteeringVectorRequest request) {
        try {
            return stub().makeSteeringVector(request);
        } catch (StatusRuntimeException e) {
            throw new PatchbayException(e.getStatus(), e);
        }
    }

    /** A server-streaming call as a Stream that converts each message, and cancels the call when closed early. */
    private <M, T> Stream<T> streaming(Callable<Iterator<M>> call, Function<M, T> convert) {
        Context.CancellableContext context = Context.current().withCancellation();
        Iterator<M> events;
        try {
            events = context.call(call);
        } catch (Exception e) {
            context.cancel(e);
            throw e instanceof StatusRuntimeException s
                    ? new PatchbayException(s.getStatus(), s)
                    : new IllegalStateException(e);
        }
        Iterator<T> typed = new Iterator<>() {
            @Override
            public boolean hasNext() {
                try {
                    return events.hasNext();
                } catch (StatusRuntimeException e) {
                    throw new PatchbayException(e.getStatus(), e);
                }
            }

            @Override
            public T next() {
                try {
                    return convert.apply(events.next());
                } catch (StatusRuntimeException e) {
                    throw new PatchbayException(e.getStatus(), e);
                }
            }
        };
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(typed, Spliterator.ORDERED), false)
                .onClose(() -> context.cancel(null));
    }

    /** Receives an asynchronous call's events on gRPC's threads. */
    public interface Listener {
        void onEvent(AttributionEvent event);

        default void onError(PatchbayException error) {}

        default void onCompleted() {}
    }

    /** A call in flight. */
    public interface Call {
        /** Cancels the request; the server drops its pending work. */
        void cancel();
    }

    /** Starts an Attribute call without blocking; events go to {@code listener}. */
    public Call attributeAsync(AttributeRequest request, Listener listener) {
        Context.CancellableContext context = Context.current().withCancellation();
        context.run(() -> PatchbayGrpc.newStub(channel)
                .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .withCallCredentials(callCredentials)
                .attribute(request, new StreamObserver<>() {
                    @Override
                    public void onNext(AttributeEvent e) {
                        listener.onEvent(convert(e));
                    }

                    @Override
                    public void onError(Throwable t) {
                        listener.onError(new PatchbayException(io.grpc.Status.fromThrowable(t), t));
                    }

                    @Override
                    public void onCompleted() {
                        listener.onCompleted();
                    }
                }));
        return () -> context.cancel(null);
    }

    private PatchbayGrpc.PatchbayBlockingStub stub() {
        return PatchbayGrpc.newBlockingStub(channel)
                .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .withCallCredentials(callCredentials);
    }

    static AttributionEvent convert(AttributeEvent e) {
        return switch (e.getEventCase()) {
            case ACCEPTED -> {
                var a = e.getAccepted();
                yield new AttributionEvent.Accepted(
                        a.getRequestId(),
                        a.getNodeCount(),
                        a.getPlannedForwardPasses(),
                        a.getMethod(),
                        a.getMetric(),
                        a.getCountUnit(),
                        a.getVariant());
            }
            case PROGRESS ->
                new AttributionEvent.Progress(
                        e.getProgress().getStage(),
                        e.getProgress().getDone(),
                        e.getProgress().getTotal());
            case BLOCK -> effects(e.getBlock());
            case VERIFIED -> {
                var v = e.getVerified();
                var n = v.getNode();
                yield new AttributionEvent.Verified(
                        v.getRank(),
                        new NodeEffect(
                                n.getName(),
                                Nodes.site(n.getKind()),
                                n.getLayer(),
                                n.getUnit(),
                                n.getPosition(),
                                v.getEstimate()),
                        v.getEffect());
            }
            case SUMMARY -> {
                var s = e.getSummary();
                yield new AttributionEvent.Summary(
                        s.getMethod(),
                        s.getMetric(),
                        s.getPairs(),
                        s.getCleanMetric(),
                        s.getNoiseMetric(),
                        s.getForwardPasses(),
                        s.getComputeForwardEquivalents(),
                        s.getWallSeconds(),
                        s.getCacheHits(),
                        s.getCacheMisses(),
                        s.getSharedBatches(),
                        s.getMagnitudes());
            }
            case DIAGNOSTIC -> {
                var d = e.getDiagnostic();
                java.util.Map<String, Double> flagged = new java.util.LinkedHashMap<>();
                d.getFlaggedList().forEach(b -> flagged.put(b.getNode().getName(), b.getUpperBound()));
                yield new AttributionEvent.Diagnostic(
                        d.getNodes(),
                        d.getMaxUpperBound(),
                        d.getThreshold(),
                        d.getAlpha(),
                        flagged,
                        d.getExpectedMissed(),
                        d.getForwardPasses());
            }
            default -> throw new IllegalStateException("an event of a newer server: " + e.getEventCase());
        };
    }

    /** The block's packed values, copied once into primitives; node rows and names are made on demand. */
    private static AttributionEvent.Effects effects(EffectBlock b) {
        float[] values = Values.of(b.getEncoding(), b.getPacked(), b.getValuesList());
        int[] positions =
                b.getPositionsList().stream().mapToInt(Integer::intValue).toArray();
        return new AttributionEvent.Effects(b.getKind(), b.getLayer(), Math.max(1, b.getUnits()), positions, values);
    }

    @Override
    public void close() throws InterruptedException {
        if (ownsChannel) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
