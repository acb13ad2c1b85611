package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.ModelInfo;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.TokenizeRequest;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The service over a real loopback channel, not in-process. */
class PatchbayServerTest {
    private static LoadedModel gpt2;
    private static LoadedModel llama;
    private static PatchbayServer server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        gpt2 = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        llama = TestCheckpoints.load("tiny-llama", DataType.FLOAT32);
        server = PatchbayServer.start(0, Map.of(gpt2.name(), gpt2, llama.name(), llama));
        channel = Grpc.newChannelBuilderForAddress("127.0.0.1", server.port(), InsecureChannelCredentials.create())
                .build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        gpt2.close();
        llama.close();
    }

    @Test
    void listsTheLoadedModelsWithTheirShapesAndHookSites() {
        List<ModelInfo> models = PatchbayGrpc.newBlockingStub(channel)
                .listModels(ListModelsRequest.getDefaultInstance())
                .getModelsList();
        assertEquals(
                List.of("tiny-gpt2", "tiny-llama"),
                models.stream().map(ModelInfo::getName).toList());
        ModelInfo l = models.get(1);
        assertEquals("llama", l.getArchitecture());
        assertEquals(4, l.getNHeads());
        assertEquals(2, l.getNKvHeads());
        assertTrue(l.getHookSitesList().contains("blocks.1.attn.hook_rot_k"));
        assertEquals("float32", l.getDtype());
        assertEquals("cpu()", l.getDevice());
        assertEquals(gpt2.transformer().hookSites().size(), models.get(0).getHookSitesCount());
    }

    @Test
    void tokenizesAsTransformersDoes() {
        var golden = TestCheckpoints.golden("tiny-llama");
        var response = PatchbayGrpc.newBlockingStub(channel)
                .tokenize(TokenizeRequest.newBuilder()
                        .setModel("tiny-llama")
                        .setText(golden.text(2))
                        .build());
        assertArrayEquals(
                golden.ids(2),
                response.getIdsList().stream().mapToInt(Integer::intValue).toArray());
        assertEquals(response.getIdsCount(), response.getTokensCount());
        assertEquals("<s>", response.getTokens(0));
    }

    @Test
    void anUnknownModelIsNotFoundAndTheServerKeepsServing() {
        var stub = PatchbayGrpc.newBlockingStub(channel);
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class,
                () -> stub.tokenize(TokenizeRequest.newBuilder()
                        .setModel("gpt-5")
                        .setText("hi")
                        .build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("gpt-5"));
        assertEquals(2, stub.listModels(ListModelsRequest.getDefaultInstance()).getModelsCount());
    }

    /** The transport enforces the message limit (so this case needs Netty, not the in-process transport). */
    @Test
    void aMessageOverTheLimitIsResourceExhaustedAndTheServerKeepsServing() {
        var stub = PatchbayGrpc.newBlockingStub(channel);
        String huge = "x".repeat(ServerLimits.defaults().maxRequestBytes() + 1);
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class,
                () -> stub.tokenize(TokenizeRequest.newBuilder()
                        .setModel("tiny-gpt2")
                        .setText(huge)
                        .build()));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        assertTrue(
                e.getStatus().getDescription().contains("exceeds maximum size"),
                e.getStatus().getDescription());
        assertEquals(2, stub.listModels(ListModelsRequest.getDefaultInstance()).getModelsCount());
    }

    /**
     * A huge text is refused by its length before any tokenizing, so the transport thread it arrives on stays
     * free: before the limit, a 15 MiB Tokenize held it for over two minutes.
     */
    @Test
    void aTextOverTheCharacterLimitIsRefusedBeforeTokenizingAndHealthStillAnswers() throws Exception {
        var stub = PatchbayGrpc.newStub(channel);
        String huge = "word ".repeat(3 << 20); // 15 MiB
        CountDownLatch refused = new CountDownLatch(1);
        Status[] status = new Status[1];
        stub.tokenize(
                TokenizeRequest.newBuilder().setModel("tiny-gpt2").setText(huge).build(), new StreamObserver<>() {
                    @Override
                    public void onNext(dev.patchbay.proto.v1.TokenizeResponse r) {}

                    @Override
                    public void onError(Throwable t) {
                        status[0] = Status.fromThrowable(t);
                        refused.countDown();
                    }

                    @Override
                    public void onCompleted() {
                        refused.countDown();
                    }
                });
        long start = System.nanoTime();
        HealthCheckResponse health = HealthGrpc.newBlockingStub(channel)
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
        assertTrue(refused.await(30, TimeUnit.SECONDS));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, status[0].getCode());
        assertTrue(
                status[0].getDescription().startsWith("text: 15728640 characters exceed the server's limit of 65536"),
                status[0].getDescription());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
    }

    /**
     * Handlers run on threads of their own: while one call's handler is held (as a long tokenize would hold it), a
     * health check on the same connection, so on the same transport thread, still answers. The handler is held by a
     * gate, not by seconds of work, so the test says the same on any machine: with handlers on the transport thread
     * the health check could not answer until the gate opened, and would pass its deadline.
     */
    @Test
    void aHeldHandlerDoesNotHoldTheTransportThread() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        ServerInterceptor holdTokenize = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(
                    ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                if (call.getMethodDescriptor().getFullMethodName().endsWith("/Tokenize")) {
                    entered.countDown();
                    try {
                        gate.await(60, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return next.startCall(call, headers);
            }
        };
        try (PatchbayServer held = PatchbayServer.start(
                NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                        .intercept(holdTokenize),
                Map.of(gpt2.name(), gpt2),
                dev.patchbay.execution.SchedulerConfig.defaults(),
                ServerLimits.defaults())) {
            ManagedChannel one = Grpc.newChannelBuilderForAddress(
                            "127.0.0.1", held.port(), InsecureChannelCredentials.create())
                    .build();
            try {
                CountDownLatch done = new CountDownLatch(1);
                PatchbayGrpc.newStub(one)
                        .tokenize(
                                TokenizeRequest.newBuilder()
                                        .setModel(gpt2.name())
                                        .setText("Mary")
                                        .build(),
                                new StreamObserver<>() {
                                    @Override
                                    public void onNext(dev.patchbay.proto.v1.TokenizeResponse r) {}

                                    @Override
                                    public void onError(Throwable t) {
                                        done.countDown();
                                    }

                                    @Override
                                    public void onCompleted() {
                                        done.countDown();
                                    }
                                });
                assertTrue(entered.await(60, TimeUnit.SECONDS), "the tokenize call never reached its handler");
                HealthCheckResponse health = HealthGrpc.newBlockingStub(one)
                        .withDeadlineAfter(30, TimeUnit.SECONDS)
                        .check(HealthCheckRequest.getDefaultInstance());
                assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
                assertEquals(1, gate.getCount(), "the health check answered while the tokenize's handler was held");
                gate.countDown();
                assertTrue(done.await(60, TimeUnit.SECONDS), "the tokenize call finishes once released");
            } finally {
                gate.countDown();
                one.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void standardHealthCheckSaysServing() {
        HealthCheckResponse health = HealthGrpc.newBlockingStub(channel)
                .check(HealthCheckRequest.newBuilder()
                        .setService("patchbay.v1.Patchbay")
                        .build());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
    }

    @Test
    void reflectionListsTheServiceInBothVersions() throws InterruptedException {
        List<String> v1 = listServices(
                observer -> ServerReflectionGrpc.newStub(channel).serverReflectionInfo(observer),
                ServerReflectionRequest.newBuilder().setListServices("").build(),
                (ServerReflectionResponse r) -> r.getListServicesResponse().getServiceList().stream()
                        .map(io.grpc.reflection.v1.ServiceResponse::getName)
                        .toList());
        assertTrue(v1.contains("patchbay.v1.Patchbay"), v1.toString());
        List<String> v1alpha = listServices(
                observer -> io.grpc.reflection.v1alpha.ServerReflectionGrpc.newStub(channel)
                        .serverReflectionInfo(observer),
                io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder()
                        .setListServices("")
                        .build(),
                (io.grpc.reflection.v1alpha.ServerReflectionResponse r) ->
                        r.getListServicesResponse().getServiceList().stream()
                                .map(io.grpc.reflection.v1alpha.ServiceResponse::getName)
                                .toList());
        assertTrue(v1alpha.contains("patchbay.v1.Patchbay"), v1alpha.toString());
    }

    @Test
    void theServerListensOnLoopbackUnlessToldOtherwise() {
        assertFalse(server.addresses().isEmpty());
        for (SocketAddress address : server.addresses()) {
            assertTrue(((InetSocketAddress) address).getAddress().isLoopbackAddress(), address.toString());
        }
    }

    /** The service names a reflection stream lists, whichever version's messages it speaks. */
    private static <Q, R> List<String> listServices(
            Function<StreamObserver<R>, StreamObserver<Q>> call, Q listRequest, Function<R, List<String>> names)
            throws InterruptedException {
        List<String> services = new ArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        StreamObserver<Q> requests = call.apply(new StreamObserver<>() {
            @Override
            public void onNext(R response) {
                services.addAll(names.apply(response));
            }

            @Override
            public void onError(Throwable t) {
                done.countDown();
            }

            @Override
            public void onCompleted() {
                done.countDown();
            }
        });
        requests.onNext(listRequest);
        requests.onCompleted();
        assertTrue(done.await(5, TimeUnit.SECONDS));
        return services;
    }
}
