package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.ResidentMemory;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.PromptPair;
import dev.patchbay.proto.v1.Token;
import dev.patchbay.proto.v1.TokenIds;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request within every limit used to exhaust memory: 16 pairs of 2048 tokens, AtP on a tiny Llama, grew the
 * server to 17.4 GB until the kernel killed it (attention costs heads x T x T per row and layer). The server now
 * sizes its batches to a memory budget, and refuses a prompt whose single row would not fit.
 */
@Tag("slow") // numerical oracles or long loops: ./patchbay test --fast skips them
class MemoryBudgetTest {
    private static final int TOKENS = 2048;
    private static final int PAIRS = 16;
    private static final long BUDGET = 1200L << 20;

    @Test
    void sixteenPairsOf2048TokensAreSplitToFitTheBudgetAndAnswered(@TempDir Path dir) throws Exception {
        Served served = serve(dir, BUDGET, request());
        System.out.printf(
                "memory budget: %d x %d-token AtP grew the peak resident memory by %.0f MB (budget %.0f MB, %d"
                        + " batches)%n",
                PAIRS, TOKENS, served.growth() / 1e6, BUDGET / 1e6, served.batches());
        assertTrue(served.last().hasSummary(), "the request was answered");
        // The estimate puts 2 pairs of this length in the budget: 8 gradient batches, not 1 of 16.
        assertTrue(served.batches() >= PAIRS / 2, "batches: " + served.batches());
        assertTrue(served.growth() < BUDGET, "peak resident memory grew by " + served.growth() / 1e6 + " MB");
    }

    @Test
    void aPromptWhoseSingleRowExceedsTheBudgetIsRefusedNamingIt(@TempDir Path dir) throws Exception {
        assertRefusedBeforeAnythingRuns(dir, 100L << 20, request(), "--memory-budget");
    }

    /**
     * AtP* over queries and keys: the plain pass keeps float64 QK-fix tables of heads x T x T for every layer, several
     * GB for one pair of the tiny Llama at 2048 tokens (1.75 GB measured at 1024 tokens before the tables were made in
     * chunks). Within a 1.26 GB budget the plan runs it with per-layer recomputation (one layer's graph, the tables a
     * chunk of query rows at a time), says so in Accepted, and stays within the budget; below what even that needs it
     * is refused before anything runs, naming the QK fix and the smallest budget that would do.
     */
    @Test
    void theQkFixTablesCountTowardsTheBudget(@TempDir Path dir) throws Exception {
        AttributeRequest atpStar = request().toBuilder()
                .clearPairs()
                .addPairs(request().getPairs(0))
                .setMethod(Method.ATP_STAR)
                .setNodes(dev.patchbay.proto.v1.NodeSet.newBuilder()
                        .addKinds(NodeKind.QUERY)
                        .addKinds(NodeKind.KEY)
                        .setPerPosition(true))
                .build();
        Served served = serve(Files.createDirectories(dir.resolve("run")), BUDGET, atpStar);
        System.out.printf(
                "memory budget: AtP* over queries and keys at %d tokens, recomputed per layer, grew the peak resident"
                        + " memory by %.0f MB (budget %.0f MB)%n",
                TOKENS, served.growth() / 1e6, BUDGET / 1e6);
        String variant = served.events().get(0).getAccepted().getVariant();
        assertTrue(variant.startsWith("per-layer recomputation: one pair of the plain"), variant);
        assertTrue(served.last().hasSummary(), "the request was answered");
        assertTrue(served.growth() < BUDGET, "peak resident memory grew by " + served.growth() / 1e6 + " MB");
        assertRefusedBeforeAnythingRuns(
                Files.createDirectories(dir.resolve("refused")),
                100L << 20,
                atpStar,
                "with per-layer recomputation and the QK fix, over the server's memory budget of 0.10 GB per batch;"
                        + " a --memory-budget of at least");
    }

    /** What one request did on a server of its own: its events, the growth of peak resident memory, its batches. */
    private record Served(List<AttributeEvent> events, long growth, long batches) {
        AttributeEvent last() {
            return events.get(events.size() - 1);
        }
    }

    private static Served serve(Path dir, long budget, AttributeRequest request) throws Exception {
        try (LoadedModel model = LoadedModel.load(TestCheckpoints.longTinyLlama(dir), DataType.FLOAT32)) {
            String name = InProcessServerBuilder.generateName();
            try (PatchbayServer server = start(name, model, budget)) {
                ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
                try {
                    long before = ResidentMemory.currentBytes();
                    ResidentMemory.resetPeak();
                    List<AttributeEvent> events = new ArrayList<>();
                    PatchbayGrpc.newBlockingStub(channel).attribute(request).forEachRemaining(events::add);
                    long growth = ResidentMemory.peakBytes() - before;
                    return new Served(
                            events, growth, server.device("long-llama").batches());
                } finally {
                    channel.shutdownNow();
                }
            }
        }
    }

    /** The request gets RESOURCE_EXHAUSTED naming {@code names}, and the device runs nothing. */
    private static void assertRefusedBeforeAnythingRuns(Path dir, long budget, AttributeRequest request, String names)
            throws Exception {
        try (LoadedModel model = LoadedModel.load(TestCheckpoints.longTinyLlama(dir), DataType.FLOAT32)) {
            String name = InProcessServerBuilder.generateName();
            try (PatchbayServer server = start(name, model, budget)) {
                ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
                try {
                    StatusRuntimeException e = assertThrows(
                            StatusRuntimeException.class,
                            () -> PatchbayGrpc.newBlockingStub(channel)
                                    .attribute(request)
                                    .hasNext());
                    assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
                    assertTrue(e.getStatus().getDescription().contains(names), e.getMessage());
                    assertEquals(0, server.device("long-llama").batches(), "nothing ran");
                } finally {
                    channel.shutdownNow();
                }
            }
        }
    }

    private static PatchbayServer start(String name, LoadedModel model, long budget) throws IOException {
        ServerLimits limits = new ServerLimits(64 << 20, 64, TOKENS, 2_000_000, 4, 2, 64 << 10);
        return PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                Map.of("long-llama", model),
                new SchedulerConfig(32, 1 << 20, Duration.ZERO, 0, budget),
                limits);
    }

    private static AttributeRequest request() {
        Random random = new Random(5);
        AttributeRequest.Builder r = AttributeRequest.newBuilder()
                .setModel("long-llama")
                .setMethod(Method.ATP)
                .setNodes(dev.patchbay.proto.v1.NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT));
        for (int i = 0; i < PAIRS; i++) {
            r.addPairs(PromptPair.newBuilder()
                    .setClean(prompt(random))
                    .setNoise(prompt(random))
                    .addAnswers(Token.newBuilder().setId(5))
                    .addWrongs(Token.newBuilder().setId(6)));
        }
        return r.build();
    }

    private static Prompt prompt(Random random) {
        return Prompt.newBuilder()
                .setIds(TokenIds.newBuilder()
                        .addAllIds(random.ints(TOKENS, 3, 300).boxed().toList()))
                .build();
    }
}
