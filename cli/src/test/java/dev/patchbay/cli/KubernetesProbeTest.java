package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.server.TestCertificates;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped Kubernetes pods must become Ready: their ConfigMap turns TLS and tokens on, and the kubelet's grpc
 * probe speaks plaintext without credentials (a plaintext Check against the TLS port gets UNAVAILABLE: the pods
 * used to restart for ever). Here the server starts as the Deployments start it, {@code serve --config} with the
 * ConfigMap's own properties (only the files' paths and the ports, 0 so the test takes free ones, are changed),
 * and every probe of both Deployments is made as the kubelet makes it: a plaintext health Check of the probe's
 * service ("" unless it names one) on the probe's port, which must be the ConfigMap's health-port.
 */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class KubernetesProbeTest {
    private static final Path ROOT =
            Path.of(System.getProperty("patchbay.home", "..")).toAbsolutePath();
    private static final Pattern PROBE = Pattern.compile(
            "(startupProbe|readinessProbe|livenessProbe):\\s*\\n\\s*grpc:\\s*\\n\\s*port:\\s*(\\d+)(\\s*\\n\\s*service:\\s*\"?([^\"\\n]*)\"?)?");

    @Test
    void everyProbeOfTheShippedManifestsFindsTheServerServing(@TempDir Path dir) throws Exception {
        Properties config = configMap();
        int healthPort = Integer.parseInt(config.getProperty("health-port"));
        int apiPort = Integer.parseInt(config.getProperty("port"));
        assertNotNull(config.getProperty("tls-cert"), "the ConfigMap serves TLS");
        List<String> services = new ArrayList<>();
        for (String deployment : List.of("deployment.yaml", "deployment-gpu.yaml")) {
            Matcher probe = PROBE.matcher(Files.readString(ROOT.resolve("deploy/k8s/" + deployment)));
            int probes = 0;
            while (probe.find()) {
                probes++;
                assertEquals(
                        healthPort,
                        Integer.parseInt(probe.group(2)),
                        deployment + ": " + probe.group(1) + " probes another port than the ConfigMap's health-port");
                services.add(probe.group(4) == null ? "" : probe.group(4));
            }
            assertEquals(3, probes, deployment + ": startup, readiness and liveness probes over grpc");
        }
        assertTrue(healthPort != apiPort, "health has a port of its own");

        TestCertificates.Pem pem = TestCertificates.selfSigned(dir, "pod");
        Path tokens = Files.writeString(dir.resolve("tokens"), "a-token-for-this-test-only\n");
        config.setProperty("tls-cert", pem.certificate().toString());
        config.setProperty("tls-key", pem.privateKey().toString());
        config.setProperty("auth-tokens", tokens.toString());
        config.setProperty("model", ROOT.resolve("models/patchbay-tiny").toString());
        config.setProperty("port", "0");
        config.setProperty("health-port", "0");
        Path file = dir.resolve("patchbay.properties");
        try (var out = Files.newBufferedWriter(file)) {
            config.store(out, "deploy/k8s/configmap.yaml, with this test's files and ports");
        }

        Process server = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Dai.djl.offline=true",
                        "-cp",
                        System.getProperty("java.class.path"),
                        PatchbayCli.class.getName(),
                        "serve",
                        "--config",
                        file.toString())
                .start();
        try {
            CompletableFuture<String> stdout = CompletableFuture.supplyAsync(() -> lineWith(
                    new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8)),
                    "patchbay listening on"));
            CompletableFuture<String> stderr = CompletableFuture.supplyAsync(() -> lineWith(
                    new BufferedReader(new InputStreamReader(server.getErrorStream(), StandardCharsets.UTF_8)),
                    "patchbay: health alone, plaintext, on"));
            String listening = stdout.get(120, TimeUnit.SECONDS);
            String health = stderr.get(120, TimeUnit.SECONDS);
            assertNotNull(listening, "the server did not start");
            assertNotNull(health, "the server opened no health port");
            int probed = Integer.parseInt(
                    health.substring(health.lastIndexOf(':') + 1).trim());
            int api = Integer.parseInt(
                    listening.substring(listening.lastIndexOf(':') + 1).trim());
            for (String service : services) {
                assertEquals(ServingStatus.SERVING, check(probed, service), "the kubelet's probe of '" + service + "'");
            }
            // What the probes did before: plaintext against the TLS port.
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> check(api, ""));
            assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode());
            // The health port serves health alone: the API is not reachable there around TLS and tokens.
            ManagedChannel plain = Grpc.newChannelBuilderForAddress(
                            "localhost", probed, InsecureChannelCredentials.create())
                    .build();
            try {
                StatusRuntimeException unserved = assertThrows(
                        StatusRuntimeException.class,
                        () -> PatchbayGrpc.newBlockingStub(plain)
                                .withDeadlineAfter(10, TimeUnit.SECONDS)
                                .listModels(ListModelsRequest.getDefaultInstance()));
                assertEquals(Status.Code.UNIMPLEMENTED, unserved.getStatus().getCode());
            } finally {
                plain.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } finally {
            server.destroy();
            if (!server.waitFor(60, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
        }
    }

    /** The ConfigMap's patchbay.properties block. */
    private static Properties configMap() throws IOException {
        List<String> lines = Files.readAllLines(ROOT.resolve("deploy/k8s/configmap.yaml"));
        StringBuilder block = new StringBuilder();
        boolean inside = false;
        for (String line : lines) {
            if (line.trim().equals("patchbay.properties: |")) {
                inside = true;
            } else if (inside) {
                block.append(line.strip()).append('\n');
            }
        }
        Properties p = new Properties();
        p.load(new StringReader(block.toString()));
        return p;
    }

    /** A plaintext health Check of {@code service} on localhost, as the kubelet's grpc probe makes it. */
    private static ServingStatus check(int port, String service) throws InterruptedException {
        ManagedChannel channel = Grpc.newChannelBuilderForAddress(
                        "localhost", port, InsecureChannelCredentials.create())
                .build();
        try {
            return HealthGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.newBuilder().setService(service).build())
                    .getStatus();
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** The first line containing {@code text}, or null at the end of the stream; the rest is drained. */
    private static String lineWith(BufferedReader reader, String text) {
        try {
            String found = null;
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (found == null && line.contains(text)) {
                    found = line;
                    // Keep draining in the background so the server never blocks on a full pipe.
                    String result = found;
                    Thread drain = new Thread(() -> {
                        try {
                            while (reader.readLine() != null) {
                                // discarded
                            }
                        } catch (IOException e) {
                            // the server ended
                        }
                    });
                    drain.setDaemon(true);
                    drain.start();
                    return result;
                }
            }
            return null;
        } catch (IOException e) {
            return null;
        }
    }
}
