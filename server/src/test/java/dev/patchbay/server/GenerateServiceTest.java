package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.generation.Generation;
import dev.patchbay.model.Intervention;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.Continuation;
import dev.patchbay.proto.v1.GenerateEvent;
import dev.patchbay.proto.v1.GenerateRequest;
import dev.patchbay.proto.v1.GeneratedToken;
import dev.patchbay.proto.v1.InterventionOp;
import dev.patchbay.proto.v1.InterventionPositions;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.TokenIds;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Generate over grpc-java's in-process transport: the engine's tokens, streamed, with interventions. */
class GenerateServiceTest {
    private static final int[] SHORT = {5, 17, 2, 44};
    private static final int[] LONG = {8, 11, 2, 40, 19, 31, 5, 12, 9};
    private static LoadedModel gpt2;
    private static PatchbayServer server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        gpt2 = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        String name = InProcessServerBuilder.generateName();
        server = PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                Map.of("tiny-gpt2", gpt2),
                new SchedulerConfig(32, 8192, Duration.ofMillis(5), 1L << 30),
                new ServerLimits(1 << 20, 64, 64, 100_000, 32, 4, 4096));
        channel = InProcessChannelBuilder.forName(name).build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        gpt2.close();
    }

    private static Prompt ids(int[] ids) {
        TokenIds.Builder b = TokenIds.newBuilder();
        for (int id : ids) {
            b.addIds(id);
        }
        return Prompt.newBuilder().setIds(b).build();
    }

    @Test
    void tokensStreamAsTheEngineGeneratesThemWithInterventions() {
        double[] direction = new double[gpt2.config().dModel()];
        java.util.Arrays.fill(direction, 0.4);
        GenerateRequest request = GenerateRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPrompts(ids(SHORT))
                .addPrompts(ids(LONG))
                .setMaxNewTokens(5)
                .setTopAlternatives(3)
                .addInterventions(dev.patchbay.proto.v1.Intervention.newBuilder()
                        .setSite("blocks.1.hook_resid_pre")
                        .setOp(InterventionOp.OP_ADD)
                        .setCoefficient(2)
                        .addAllValue(java.util.Arrays.stream(direction).boxed().toList())
                        .setWhere(InterventionPositions.POSITIONS_GENERATED))
                .addInterventions(dev.patchbay.proto.v1.Intervention.newBuilder()
                        .setSite("blocks.0.attn.hook_z")
                        .setOp(InterventionOp.OP_ZERO)
                        .addUnits(1))
                .build();
        List<GenerateEvent> events = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).generate(request).forEachRemaining(events::add);
        List<GeneratedToken> tokens = events.stream()
                .filter(GenerateEvent::hasToken)
                .map(GenerateEvent::getToken)
                .toList();
        List<Continuation> done = events.stream()
                .filter(GenerateEvent::hasContinuation)
                .map(GenerateEvent::getContinuation)
                .toList();
        assertEquals(10, tokens.size());
        assertTrue(events.get(events.size() - 1).hasSummary());

        List<int[]> local = Generation.run(
                PassRunner.direct(gpt2.transformer()),
                List.of(SHORT, LONG),
                List.of(
                        new Generation.Steer(
                                new Intervention(
                                        "blocks.1.hook_resid_pre", Intervention.Op.ADD, 0, null, null, direction, 2),
                                Generation.Positions.GENERATED),
                        new Generation.Steer(
                                new Intervention(
                                        "blocks.0.attn.hook_z", Intervention.Op.ZERO, 0, null, new int[] {1}, null, 1),
                                Generation.Positions.ALL)),
                Generation.Settings.greedy(5),
                t -> {});
        for (int p = 0; p < 2; p++) {
            assertArrayEquals(
                    local.get(p),
                    done.get(p).getIdsList().stream()
                            .mapToInt(Integer::intValue)
                            .toArray(),
                    "prompt " + p);
            assertEquals("max_new_tokens", done.get(p).getStoppedBy());
        }
        GeneratedToken first = tokens.get(0);
        assertTrue(first.getText().length() > 0);
        assertEquals(3, first.getAlternativesCount());
        // Greedy: the token is the most likely alternative, with its log-probability.
        assertEquals(first.getId(), first.getAlternatives(0).getId());
        assertEquals(first.getLogProb(), first.getAlternatives(0).getLogProb(), 1e-12);
    }

    @Test
    void aSteeringVectorIsMadeKeptAndUsedByName() {
        var made = PatchbayGrpc.newBlockingStub(channel)
                .makeSteeringVector(dev.patchbay.proto.v1.SteeringVectorRequest.newBuilder()
                        .setModel("tiny-gpt2")
                        .setSite("blocks.1.hook_resid_pre")
                        .setName("towards-short")
                        .addPairs(dev.patchbay.proto.v1.ContrastPair.newBuilder()
                                .setPositive(ids(SHORT))
                                .setNegative(ids(LONG)))
                        .build());
        double[] values =
                made.getValuesList().stream().mapToDouble(Double::doubleValue).toArray();
        double[] local = dev.patchbay.generation.SteeringVector.contrastive(
                PassRunner.direct(gpt2.transformer()),
                "blocks.1.hook_resid_pre",
                List.of(new dev.patchbay.generation.SteeringVector.Contrast(SHORT, LONG)),
                dev.patchbay.generation.SteeringVector.Reading.LAST_TOKEN);
        assertArrayEquals(local, values, 1e-6);
        GenerateRequest steer = GenerateRequest.newBuilder()
                .setModel("tiny-gpt2")
                .addPrompts(ids(LONG))
                .setMaxNewTokens(4)
                .addInterventions(dev.patchbay.proto.v1.Intervention.newBuilder()
                        .setSite("blocks.1.hook_resid_pre")
                        .setOp(InterventionOp.OP_ADD)
                        .setVector("towards-short")
                        .setCoefficient(3))
                .build();
        List<GenerateEvent> events = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).generate(steer).forEachRemaining(events::add);
        int[] ids = events.stream()
                .filter(GenerateEvent::hasContinuation)
                .findFirst()
                .orElseThrow()
                .getContinuation()
                .getIdsList()
                .stream()
                .mapToInt(Integer::intValue)
                .toArray();
        int[] expected = Generation.run(
                        PassRunner.direct(gpt2.transformer()),
                        List.of(LONG),
                        List.of(new Generation.Steer(
                                new Intervention(
                                        "blocks.1.hook_resid_pre", Intervention.Op.ADD, 0, null, null, values, 3),
                                Generation.Positions.ALL)),
                        Generation.Settings.greedy(4),
                        t -> {})
                .get(0);
        assertArrayEquals(expected, ids);
        io.grpc.StatusRuntimeException unknown = org.junit.jupiter.api.Assertions.assertThrows(
                io.grpc.StatusRuntimeException.class,
                () -> PatchbayGrpc.newBlockingStub(channel)
                        .generate(steer.toBuilder()
                                .setInterventions(
                                        0, steer.getInterventions(0).toBuilder().setVector("nope"))
                                .build())
                        .forEachRemaining(e -> {}));
        assertTrue(
                unknown.getStatus().getDescription().startsWith("interventions[0].vector: no steering vector 'nope'"),
                unknown.getStatus().getDescription());
        // No operation named: the refusal lists every one the contract has.
        io.grpc.StatusRuntimeException unnamed = org.junit.jupiter.api.Assertions.assertThrows(
                io.grpc.StatusRuntimeException.class,
                () -> PatchbayGrpc.newBlockingStub(channel)
                        .generate(steer.toBuilder()
                                .setInterventions(
                                        0,
                                        steer.getInterventions(0).toBuilder()
                                                .setOp(InterventionOp.INTERVENTION_OP_UNSPECIFIED))
                                .build())
                        .forEachRemaining(e -> {}));
        assertEquals(
                "interventions[0].op: name one of OP_ADD, OP_SET, OP_SCALE, OP_ZERO, OP_PATCH, OP_MEAN, OP_RESAMPLE",
                unnamed.getStatus().getDescription());
    }

    /**
     * On the bundled model (whose eos_token_id is 0), a continuation ends at the end-of-text token as transformers'
     * generate ends it ([43, 2, 0] for this IOI prompt, testdata/golden/generation-bundled.json), reported as a stop
     * token; with ignore_eos it runs to max_new_tokens. ListModels names the token.
     */
    @Test
    void aContinuationEndsAtTheModelsEndOfTextUnlessTold() throws Exception {
        String name = InProcessServerBuilder.generateName();
        try (LoadedModel bundled = TestCheckpoints.load(TestCheckpoints.DEFAULT_MODEL, DataType.FLOAT32)) {
            PatchbayServer served = PatchbayServer.start(
                    InProcessServerBuilder.forName(name),
                    Map.of("bundled", bundled),
                    new SchedulerConfig(32, 8192, Duration.ofMillis(5), 1L << 30),
                    new ServerLimits(1 << 20, 64, 64, 100_000, 32, 4, 4096));
            ManagedChannel to = InProcessChannelBuilder.forName(name).build();
            try {
                var stub = PatchbayGrpc.newBlockingStub(to);
                assertEquals(
                        List.of(0),
                        stub.listModels(dev.patchbay.proto.v1.ListModelsRequest.getDefaultInstance())
                                .getModels(0)
                                .getEndOfTextList());
                int[] ioi = {71, 43, 75, 33, 153, 148, 145, 142, 1, 33, 98, 74, 90, 148};
                for (boolean ignore : new boolean[] {false, true}) {
                    GenerateRequest request = GenerateRequest.newBuilder()
                            .setModel("bundled")
                            .addPrompts(ids(ioi))
                            .setMaxNewTokens(8)
                            .setIgnoreEos(ignore)
                            .build();
                    List<Continuation> done = new ArrayList<>();
                    stub.generate(request).forEachRemaining(e -> {
                        if (e.hasContinuation()) {
                            done.add(e.getContinuation());
                        }
                    });
                    if (ignore) {
                        assertEquals(
                                List.of(43, 2, 0, 71, 10, 75, 7, 102),
                                done.get(0).getIdsList());
                        assertEquals("max_new_tokens", done.get(0).getStoppedBy());
                    } else {
                        assertEquals(List.of(43, 2, 0), done.get(0).getIdsList());
                        assertEquals("stop token", done.get(0).getStoppedBy());
                    }
                }
            } finally {
                to.shutdownNow();
                served.close();
            }
        }
    }

    /** A generation whose KV cache and first step would not fit the memory budget is refused before it starts. */
    @Test
    void aGenerationBeyondTheMemoryBudgetIsRefused() throws Exception {
        String name = InProcessServerBuilder.generateName();
        PatchbayServer small = PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                Map.of("tiny-gpt2", gpt2),
                new SchedulerConfig(32, 8192, Duration.ofMillis(5), 0, 1L << 20),
                new ServerLimits(1 << 20, 64, 64, 100_000, 32, 4, 4096));
        ManagedChannel to = InProcessChannelBuilder.forName(name).build();
        try {
            GenerateRequest.Builder many =
                    GenerateRequest.newBuilder().setModel("tiny-gpt2").setMaxNewTokens(40);
            for (int i = 0; i < 64; i++) {
                many.addPrompts(ids(LONG));
            }
            io.grpc.StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(
                    io.grpc.StatusRuntimeException.class,
                    () -> PatchbayGrpc.newBlockingStub(to)
                            .generate(many.build())
                            .forEachRemaining(x -> {}));
            assertEquals(io.grpc.Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
            assertTrue(
                    e.getStatus().getDescription().contains("memory budget"),
                    e.getStatus().getDescription());
        } finally {
            to.shutdownNow();
            small.close();
        }
    }
}
