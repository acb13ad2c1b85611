package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.NativeMemory;
import dev.patchbay.execution.ResidentMemory;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.AttributeEdgesRequest;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.EdgeMethod;
import dev.patchbay.proto.v1.GenerateRequest;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.Node;
import dev.patchbay.proto.v1.NodeGroup;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.NodeSet;
import dev.patchbay.proto.v1.PatchRequest;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.TokenizeRequest;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Sixteen clients send a mix of small and large requests (AtP, AtP* over every position, activation patching
 * with verification, Patch, Tokenize, generation up to the model's last position, every edge estimate per position,
 * and a bad request) over a real socket for a bounded time. Nothing may fail but the bad requests, each with its
 * status; resident memory must stay flat after the warm-up, and native memory (resident less the JVM's committed
 * heap) must stay within the server's memory budget plus a margin for the allocator's wander.
 * {@code -Dpatchbay.soak.seconds=600} runs it longer.
 */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class SoakTest {
    private static final int CLIENTS = 16;
    /** The server's memory budget for the whole process. */
    private static final long BUDGET = 1L << 30;
    /** The native allocator's wander and the JVM's own native memory (threads, code): NativeMemoryTest's tens. */
    private static final long MARGIN = 256L << 20;

    @Test
    void sixteenClientsOfMixedRequestsNeitherFailNorGrowMemory() throws Exception {
        long seconds = Long.getLong("patchbay.soak.seconds", 30);
        try (LoadedModel gpt2 = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
                LoadedModel llama = TestCheckpoints.load("tiny-llama", DataType.FLOAT32);
                PatchbayServer server = PatchbayServer.start(
                        0,
                        Map.of("tiny-gpt2", gpt2, "tiny-llama", llama),
                        new SchedulerConfig(32, 8192, Duration.ofMillis(2), 16L << 20, BUDGET),
                        ServerLimits.defaults())) {
            ManagedChannel channel = Grpc.newChannelBuilderForAddress(
                            "127.0.0.1", server.port(), InsecureChannelCredentials.create())
                    .maxInboundMessageSize(64 << 20)
                    .build();
            ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
            long heapBefore = committedHeap();
            long before = ResidentMemory.currentBytes();
            ResidentMemory.resetPeak();
            long heapMost = heapBefore;
            try {
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
                Map<String, AtomicLong> done = new ConcurrentHashMap<>();
                List<String> failures = Collections.synchronizedList(new ArrayList<>());
                List<Future<?>> running = new ArrayList<>();
                for (int c = 0; c < CLIENTS; c++) {
                    Random random = new Random(c);
                    running.add(clients.submit(() -> {
                        while (System.nanoTime() < end && failures.size() < 10) {
                            String kind = request(channel, random, failures);
                            done.computeIfAbsent(kind, k -> new AtomicLong()).incrementAndGet();
                        }
                    }));
                }
                // Resident memory once a second; the first third is the warm-up (allocator, JIT, cache filling).
                List<Long> samples = new ArrayList<>();
                while (System.nanoTime() < end) {
                    Thread.sleep(1000);
                    samples.add(ResidentMemory.currentBytes());
                    heapMost = Math.max(heapMost, committedHeap());
                }
                for (Future<?> f : running) {
                    f.get(5, TimeUnit.MINUTES);
                }
                int third = samples.size() / 3;
                long middle = Collections.min(samples.subList(third, 2 * third));
                long last = Collections.min(samples.subList(2 * third, samples.size()));
                long total = done.values().stream().mapToLong(AtomicLong::get).sum();
                System.out.printf(
                        "soak: %d s, %d requests %s; resident floor %.0f MB then %.0f MB (peak %.0f MB)%n",
                        seconds, total, done, middle / 1e6, last / 1e6, Collections.max(samples) / 1e6);
                assertTrue(failures.isEmpty(), String.join("\n", failures));
                assertTrue(total > CLIENTS, "only " + total + " requests finished");
                // A leak of even a small request's arrays per request would add hundreds of MB here; the native
                // allocator's wander is tens (NativeMemoryTest).
                assertTrue(last - middle < 96L << 20, "resident memory grew by " + (last - middle) / 1e6 + " MB");
                // The peak above the start, less what the JVM's heap grew by: the native memory the passes held.
                long nativeGrowth =
                        ResidentMemory.peakBytes() - before - (Math.max(heapMost, committedHeap()) - heapBefore);
                System.out.printf(
                        "soak: native memory peaked %.0f MB above the start (budget %.0f MB, margin %.0f MB)%n",
                        nativeGrowth / 1e6, BUDGET / 1e6, MARGIN / 1e6);
                assertTrue(
                        nativeGrowth <= BUDGET + MARGIN,
                        "native memory grew by " + nativeGrowth / 1e6 + " MB over a budget of " + BUDGET / 1e6);
                assertEquals(
                        0,
                        server.device("tiny-gpt2").openJobs()
                                + server.device("tiny-llama").openJobs());
                // Once the load stops, freed native memory goes back (NativeMemory's trimmer). A gate, not a sleep: the
                // trimmer has run after a quiet second (false at once where nothing is trimmed).
                System.gc();
                NativeMemory.awaitTrimmed(Duration.ofMinutes(1));
                System.out.printf(
                        "soak: resident %.0f MB at the start, %.0f MB at the peak, %.0f MB once idle (trimming %s)%n",
                        before / 1e6,
                        Collections.max(samples) / 1e6,
                        ResidentMemory.currentBytes() / 1e6,
                        NativeMemory.trims() ? "on" : "off");
            } finally {
                clients.shutdownNow();
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    /** Sends one request of a random kind; records anything but the expected outcome. Returns its kind. */
    private static String request(ManagedChannel channel, Random random, List<String> failures) {
        var stub = PatchbayGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES);
        String model = random.nextBoolean() ? "tiny-gpt2" : "tiny-llama";
        // Fresh prompts most of the time, repeats sometimes: the cache both fills and hits. Clean and noise get
        // the same words swapped, so they keep the same token length.
        boolean repeat = random.nextInt(4) == 0;
        String place = repeat || random.nextBoolean() ? "store" : "park";
        String thing = repeat || random.nextBoolean() ? "drink" : "book";
        var pair = AttributeServiceTest.pair(
                AttributeServiceTest.CLEAN.replace("store", place).replace("drink", thing),
                AttributeServiceTest.NOISE.replace("store", place).replace("drink", thing));
        String clean = pair.getClean().getText();
        int choice = random.nextInt(8);
        String kind = switch (choice) {
            case 0 -> "atp";
            case 1 -> "atp*-per-position";
            case 2 -> "ap+verify";
            case 3 -> "patch";
            case 4 -> "tokenize";
            case 6 -> "generate-to-the-last-position";
            case 7 -> "edges-per-position";
            default -> "bad";
        };
        try {
            switch (choice) {
                case 0, 1, 2, 5 -> {
                    AttributeRequest.Builder r =
                            AttributeRequest.newBuilder().setModel(model).addPairs(pair);
                    switch (choice) {
                        case 0 -> r.setMethod(Method.ATP).setNodes(heads());
                        case 1 ->
                            r.setMethod(Method.ATP_STAR)
                                    .setNodes(NodeSet.newBuilder()
                                            .addKinds(NodeKind.QUERY)
                                            .addKinds(NodeKind.KEY)
                                            .addKinds(NodeKind.VALUE)
                                            .addKinds(NodeKind.HEAD_OUTPUT)
                                            .addKinds(NodeKind.NEURON)
                                            .setPerPosition(true));
                        case 2 ->
                            r.setMethod(Method.ACTIVATION_PATCHING)
                                    .setNodes(heads())
                                    .setVerifyTopK(3);
                        default ->
                            r.setMethod(Method.ATP).setNodes(heads().toBuilder().addLayers(99));
                    }
                    stub.attribute(r.build()).forEachRemaining(e -> {});
                    if (choice == 5) {
                        failures.add("a bad request (layer 99) was answered");
                    }
                }
                case 3 ->
                    stub.patch(PatchRequest.newBuilder()
                                    .setModel(model)
                                    .addPairs(pair)
                                    .addGroups(NodeGroup.newBuilder()
                                            .addNodes(Node.newBuilder()
                                                    .setKind(NodeKind.HEAD_OUTPUT)
                                                    .setLayer(1)
                                                    .setUnit(random.nextInt(2))
                                                    .setPosition(-1)))
                                    .build())
                            .forEachRemaining(e -> {});
                case 6 ->
                    // Both test models have 64 positions: the prompt and its continuation fill them.
                    stub.generate(GenerateRequest.newBuilder()
                                    .setModel(model)
                                    .addPrompts(Prompt.newBuilder().setText(clean))
                                    .setMaxNewTokens(64
                                            - stub.tokenize(TokenizeRequest.newBuilder()
                                                            .setModel(model)
                                                            .setText(clean)
                                                            .build())
                                                    .getIdsCount())
                                    .build())
                            .forEachRemaining(e -> {});
                case 7 ->
                    stub.attributeEdges(AttributeEdgesRequest.newBuilder()
                                    .setModel(model)
                                    .addPairs(pair)
                                    .setMethod(List.of(EdgeMethod.EAP, EdgeMethod.EAP_IG, EdgeMethod.EDGE_ATP_STAR)
                                            .get(random.nextInt(3)))
                                    .setPerPosition(true)
                                    .build())
                            .forEachRemaining(e -> {});
                default ->
                    stub.tokenize(TokenizeRequest.newBuilder()
                            .setModel(model)
                            .setText(clean)
                            .build());
            }
        } catch (StatusRuntimeException e) {
            if (!(choice == 5 && e.getStatus().getCode() == Status.Code.INVALID_ARGUMENT)) {
                failures.add(kind + " on " + model + ": " + e.getStatus());
            }
        }
        return kind;
    }

    private static long committedHeap() {
        return java.lang.management.ManagementFactory.getMemoryMXBean()
                .getHeapMemoryUsage()
                .getCommitted();
    }

    private static NodeSet heads() {
        return NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT).build();
    }
}
