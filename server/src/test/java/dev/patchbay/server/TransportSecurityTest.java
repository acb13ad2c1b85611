package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.ListModelsResponse;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.server.config.ServerLimits;
import dev.patchbay.server.security.TransportSecurity;
import io.grpc.CallCredentials;
import io.grpc.CallOptions;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCalls;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * serve listened on every interface with no TLS and no authentication. With --tls-cert/--tls-key it serves TLS
 * only, with --tls-client-ca only to clients holding a certificate that CA signed, and with --auth-tokens only to
 * calls carrying a listed bearer token, except health checks. Certificates are made by keytool at test time.
 */
class TransportSecurityTest {
    private static final String TOKEN = "0123456789abcdef-test-token";

    @TempDir
    static Path dir;

    private static LoadedModel model;
    private static TestCertificates.Pem server;
    private static TestCertificates.Pem client;
    private static Path tokens;

    @BeforeAll
    static void certificates() throws Exception {
        model = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        server = TestCertificates.selfSigned(dir, "server");
        client = TestCertificates.selfSigned(dir, "client");
        tokens = dir.resolve("tokens");
        Files.writeString(tokens, "# one token a line\n" + TOKEN + "\n\nanother-token-0123456789\n");
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void tlsServesTlsClientsAndRefusesPlaintext() throws Exception {
        try (PatchbayServer s = start(new TransportSecurity(server.certificate(), server.privateKey(), null, null))) {
            assertEquals(1, models(channel(s, trusting()), null));
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class, () -> models(channel(s, InsecureChannelCredentials.create()), null));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        }
    }

    @Test
    void mutualTlsRefusesAClientWithoutACertificateTheCaSigned() throws Exception {
        // The client's self-signed certificate is its own CA.
        try (PatchbayServer s =
                start(new TransportSecurity(server.certificate(), server.privateKey(), client.certificate(), null))) {
            ChannelCredentials withCertificate = TlsChannelCredentials.newBuilder()
                    .trustManager(server.certificate().toFile())
                    .keyManager(
                            client.certificate().toFile(), client.privateKey().toFile())
                    .build();
            assertEquals(1, models(channel(s, withCertificate), null));
            assertThrows(StatusRuntimeException.class, () -> models(channel(s, trusting()), null));
            ChannelCredentials otherCertificate = TlsChannelCredentials.newBuilder()
                    .trustManager(server.certificate().toFile())
                    .keyManager(
                            server.certificate().toFile(), server.privateKey().toFile())
                    .build();
            assertThrows(StatusRuntimeException.class, () -> models(channel(s, otherCertificate), null));
        }
    }

    @Test
    void bearerTokensGuardEveryCallButHealthChecks() throws Exception {
        try (PatchbayServer s = start(new TransportSecurity(server.certificate(), server.privateKey(), null, tokens))) {
            ManagedChannel channel = channel(s, trusting());
            try {
                assertEquals(1, call(channel, TOKEN));
                for (String wrong : new String[] {null, " ", TOKEN + "x", TOKEN.substring(1), "another-token"}) {
                    StatusRuntimeException e =
                            assertThrows(StatusRuntimeException.class, () -> call(channel, wrong), "token " + wrong);
                    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
                }
                assertEquals(
                        ServingStatus.SERVING,
                        HealthGrpc.newBlockingStub(channel)
                                .check(HealthCheckRequest.getDefaultInstance())
                                .getStatus(),
                        "health checks need no token");
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * A method no service has was UNIMPLEMENTED before any token was asked for, so anyone could list what exists;
     * now it is authenticated first, like every call but health.
     */
    @Test
    void unknownMethodsAreAuthenticatedBeforeTheyAreUnimplemented() throws Exception {
        try (PatchbayServer s = start(new TransportSecurity(server.certificate(), server.privateKey(), null, tokens))) {
            ManagedChannel channel = channel(s, trusting());
            try {
                MethodDescriptor<ListModelsRequest, ListModelsResponse> unknown =
                        PatchbayGrpc.getListModelsMethod().toBuilder()
                                .setFullMethodName("patchbay.v1.Patchbay/NoSuchMethod")
                                .build();
                StatusRuntimeException anonymous = assertThrows(
                        StatusRuntimeException.class,
                        () -> ClientCalls.blockingUnaryCall(
                                channel, unknown, CallOptions.DEFAULT, ListModelsRequest.getDefaultInstance()));
                assertEquals(Status.Code.UNAUTHENTICATED, anonymous.getStatus().getCode());
                StatusRuntimeException withToken = assertThrows(
                        StatusRuntimeException.class,
                        () -> ClientCalls.blockingUnaryCall(
                                channel,
                                unknown,
                                CallOptions.DEFAULT.withCallCredentials(bearer(TOKEN)),
                                ListModelsRequest.getDefaultInstance()));
                assertEquals(Status.Code.UNIMPLEMENTED, withToken.getStatus().getCode());
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * Steering vectors are kept per token: one namespace per model was shared by every client, so anyone could
     * replace another's vector or fill the slots. A vector one token made is not found by another.
     */
    @Test
    void steeringVectorsAreKeptPerToken() throws Exception {
        try (PatchbayServer s = start(new TransportSecurity(server.certificate(), server.privateKey(), null, tokens))) {
            ManagedChannel channel = channel(s, trusting());
            try {
                var first = PatchbayGrpc.newBlockingStub(channel).withCallCredentials(bearer(TOKEN));
                var second =
                        PatchbayGrpc.newBlockingStub(channel).withCallCredentials(bearer("another-token-0123456789"));
                first.makeSteeringVector(dev.patchbay.proto.v1.SteeringVectorRequest.newBuilder()
                        .setModel("m")
                        .setSite("blocks.0.hook_resid_pre")
                        .setName("mine")
                        .addPairs(dev.patchbay.proto.v1.ContrastPair.newBuilder()
                                .setPositive(prompt(5, 17, 2))
                                .setNegative(prompt(5, 18, 2)))
                        .build());
                dev.patchbay.proto.v1.GenerateRequest generate = dev.patchbay.proto.v1.GenerateRequest.newBuilder()
                        .setModel("m")
                        .addPrompts(prompt(5, 17, 2))
                        .setMaxNewTokens(2)
                        .addInterventions(dev.patchbay.proto.v1.Intervention.newBuilder()
                                .setSite("blocks.0.hook_resid_pre")
                                .setOp(dev.patchbay.proto.v1.InterventionOp.OP_ADD)
                                .setVector("mine"))
                        .build();
                first.generate(generate).forEachRemaining(e -> {});
                StatusRuntimeException other = assertThrows(
                        StatusRuntimeException.class,
                        () -> second.generate(generate).forEachRemaining(e -> {}));
                assertEquals(Status.Code.INVALID_ARGUMENT, other.getStatus().getCode());
                assertTrue(
                        other.getStatus().getDescription().contains("no steering vector 'mine'"),
                        other.getStatus().getDescription());
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    private static dev.patchbay.proto.v1.Prompt prompt(int... ids) {
        var tokens = dev.patchbay.proto.v1.TokenIds.newBuilder();
        for (int id : ids) {
            tokens.addIds(id);
        }
        return dev.patchbay.proto.v1.Prompt.newBuilder().setIds(tokens).build();
    }

    @Test
    void badSecuritySettingsAreRefusedNamingTheFlag() throws Exception {
        IllegalArgumentException half = assertThrows(
                IllegalArgumentException.class, () -> new TransportSecurity(server.certificate(), null, null, null));
        assertTrue(half.getMessage().contains("--tls-key"), half.getMessage());
        IllegalArgumentException mtlsWithoutTls = assertThrows(
                IllegalArgumentException.class, () -> new TransportSecurity(null, null, client.certificate(), null));
        assertTrue(mtlsWithoutTls.getMessage().contains("--tls-client-ca"), mtlsWithoutTls.getMessage());
        Path empty = Files.writeString(dir.resolve("empty-tokens"), "# none\n");
        IllegalArgumentException noTokens = assertThrows(
                IllegalArgumentException.class, () -> new TransportSecurity(null, null, null, empty).tokens());
        assertTrue(noTokens.getMessage().contains("--auth-tokens"), noTokens.getMessage());
        Path shortToken = Files.writeString(dir.resolve("short-tokens"), "abc\n");
        assertThrows(
                IllegalArgumentException.class, () -> new TransportSecurity(null, null, null, shortToken).tokens());
        IllegalArgumentException notAKey = assertThrows(
                IllegalArgumentException.class,
                () -> new TransportSecurity(server.certificate(), server.certificate(), null, null).credentials());
        assertTrue(notAKey.getMessage().contains("--tls-key"), notAKey.getMessage());
        // A key that is not the certificate's started a server whose every handshake failed silently.
        IllegalArgumentException otherKey = assertThrows(
                IllegalArgumentException.class,
                () -> new TransportSecurity(server.certificate(), client.privateKey(), null, null).credentials());
        assertTrue(otherKey.getMessage().contains("is not the private key"), otherKey.getMessage());
    }

    private static PatchbayServer start(TransportSecurity security) throws Exception {
        return PatchbayServer.start(
                "127.0.0.1", 0, Map.of("m", model), SchedulerConfig.defaults(), ServerLimits.defaults(), security);
    }

    private static ChannelCredentials trusting() throws Exception {
        return TlsChannelCredentials.newBuilder()
                .trustManager(server.certificate().toFile())
                .build();
    }

    private static ManagedChannel channel(PatchbayServer s, ChannelCredentials credentials) {
        return Grpc.newChannelBuilderForAddress("localhost", s.port(), credentials)
                .build();
    }

    /** Lists the models (the count) without a token over a channel it then closes. */
    private static int models(ManagedChannel channel, String token) throws InterruptedException {
        try {
            return call(channel, token);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** Lists the models (the count) with {@code token} as a bearer token, or none. */
    private static int call(ManagedChannel channel, String token) {
        var stub = PatchbayGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
        if (token != null) {
            stub = stub.withCallCredentials(bearer(token));
        }
        return stub.listModels(ListModelsRequest.getDefaultInstance()).getModelsCount();
    }

    private static CallCredentials bearer(String token) {
        return new CallCredentials() {
            @Override
            public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
                Metadata headers = new Metadata();
                headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
                applier.apply(headers);
            }
        };
    }
}
