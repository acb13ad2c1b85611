package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.nodes.Metric;
import dev.patchbay.operations.AttributeFeatures;
import dev.patchbay.operations.RequestLimits;
import dev.patchbay.operations.Serving;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.PassRunner;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeFeaturesEvent;
import dev.patchbay.proto.v1.AttributeFeaturesRequest;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.DiagnosticOptions;
import dev.patchbay.proto.v1.DictionaryInfo;
import dev.patchbay.proto.v1.FeatureBlock;
import dev.patchbay.proto.v1.FeatureMethod;
import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.ModelInfo;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.NodeSet;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * AttributeFeatures over grpc-java's in-process transport: dictionaries listed by ListModels, the same estimates as
 * in-process, verification and the diagnostic streamed, refusals that leave the server serving, and a model whose
 * outputs are those without its dictionaries, bit for bit.
 */
class AttributeFeaturesServiceTest {
    private static final int[] CLEAN = {15, 117, 22, 144, 9, 131, 70, 12};
    private static final int[] NOISE = {15, 117, 23, 144, 90, 128, 70, 12};
    private static final List<String> DICTIONARIES = List.of("resid-relu", "z-jumprelu", "mlp-transcoder");
    private static LoadedModel spliced;
    private static LoadedModel plain;
    private static PatchbayServer server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        spliced = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        for (String name : DICTIONARIES) {
            spliced.addDictionary(name, TestCheckpoints.dictionaryDir("tiny-gpt2", name), null);
        }
        plain = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
        Map<String, LoadedModel> models = new LinkedHashMap<>();
        models.put("spliced", spliced);
        models.put("plain", plain);
        String name = InProcessServerBuilder.generateName();
        server = PatchbayServer.start(
                InProcessServerBuilder.forName(name),
                models,
                new SchedulerConfig(32, 8192, Duration.ofMillis(20), 1L << 30),
                new ServerLimits(1 << 20, 64, 256, 100_000, 32, 4, 4096));
        channel = InProcessChannelBuilder.forName(name).build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        spliced.close();
        plain.close();
    }

    private static PromptPair pair() {
        TokenIds.Builder clean = TokenIds.newBuilder();
        TokenIds.Builder noise = TokenIds.newBuilder();
        for (int i = 0; i < CLEAN.length; i++) {
            clean.addIds(CLEAN[i]);
            noise.addIds(NOISE[i]);
        }
        return PromptPair.newBuilder()
                .setClean(Prompt.newBuilder().setIds(clean))
                .setNoise(Prompt.newBuilder().setIds(noise))
                .addAnswers(Token.newBuilder().setId(5))
                .addWrongs(Token.newBuilder().setId(7))
                .build();
    }

    private static List<AttributeFeaturesEvent> call(AttributeFeaturesRequest request) {
        List<AttributeFeaturesEvent> events = new ArrayList<>();
        PatchbayGrpc.newBlockingStub(channel).attributeFeatures(request).forEachRemaining(events::add);
        return events;
    }

    @Test
    void listModelsNamesEachDictionaryWithItsSitesWidthAndActivation() {
        ModelInfo info =
                PatchbayGrpc.newBlockingStub(channel)
                        .listModels(ListModelsRequest.getDefaultInstance())
                        .getModelsList()
                        .stream()
                        .filter(m -> m.getName().equals("spliced"))
                        .findFirst()
                        .orElseThrow();
        assertEquals(
                DICTIONARIES,
                info.getDictionariesList().stream().map(DictionaryInfo::getName).toList());
        DictionaryInfo transcoder = info.getDictionaries(2);
        assertEquals("blocks.1.hook_mlp_in", transcoder.getInputSite());
        assertEquals("blocks.1.hook_mlp_out", transcoder.getSite());
        assertEquals(56, transcoder.getWidth());
        assertEquals("relu", transcoder.getActivation());
        assertEquals("jumprelu", info.getDictionaries(1).getActivation());
    }

    @Test
    void estimatesOverTheRpcEqualInProcessThenTheTopAreVerifiedAndTheRestBounded() {
        List<AttributeFeaturesEvent> events = call(AttributeFeaturesRequest.newBuilder()
                .setModel("spliced")
                .addPairs(pair())
                .setMethod(FeatureMethod.FEATURE_ATP)
                .setVerifyTopK(5)
                .setDiagnostic(DiagnosticOptions.newBuilder().setEnabled(true).setSamples(16))
                .build());
        assertTrue(events.get(0).hasAccepted());
        assertEquals("features", events.get(0).getAccepted().getCountUnit());
        assertTrue(events.get(events.size() - 1).hasSummary());
        List<FeatureBlock> blocks = events.stream()
                .filter(AttributeFeaturesEvent::hasBlock)
                .map(AttributeFeaturesEvent::getBlock)
                .toList();
        assertEquals(3, blocks.size());
        assertEquals(
                5, events.stream().filter(AttributeFeaturesEvent::hasVerified).count());
        assertEquals(
                3, events.stream().filter(AttributeFeaturesEvent::hasDiagnostic).count());
        // In-process, the same operation on the same model.
        dev.patchbay.nodes.PromptPair enginePair =
                new dev.patchbay.nodes.PromptPair(CLEAN, NOISE, Metric.logitDiff(new int[] {5}, new int[] {7}));
        Serving on = new Serving(
                spliced.transformer(), new Budget(spliced.config(), 4, 1L << 30), RequestLimits.unlimited(8));
        List<AttributeFeatures.Block> local = new ArrayList<>();
        AttributeFeatures.run(
                PassRunner.direct(spliced.transformer()),
                AttributeFeatures.plan(
                        new AttributeFeatures.Request(List.of(enginePair), List.of(), "atp", 0, null),
                        on,
                        spliced.dictionaries()),
                new Collect(local));
        for (int b = 0; b < blocks.size(); b++) {
            FeatureBlock wire = blocks.get(b);
            AttributeFeatures.Block mine = local.get(b);
            assertEquals(mine.dictionary(), wire.getDictionary());
            assertEquals(mine.site(), wire.getSite());
            assertArrayEquals(
                    mine.block().features(),
                    wire.getFeaturesList().stream().mapToInt(Integer::intValue).toArray());
            assertArrayEquals(
                    mine.block().estimates(),
                    wire.getEstimatesList().stream()
                            .mapToDouble(Double::doubleValue)
                            .toArray(),
                    1e-6);
        }
        assertTrue(events.stream()
                .filter(AttributeFeaturesEvent::hasVerified)
                .allMatch(e -> e.getVerified().getNode().getName().startsWith("L")));
    }

    @Test
    void badRequestsAreRefusedByFieldAndTheServerKeepsServing() {
        StatusRuntimeException unknown = assertThrows(
                StatusRuntimeException.class,
                () -> call(AttributeFeaturesRequest.newBuilder()
                        .setModel("spliced")
                        .addPairs(pair())
                        .addDictionaries("nope")
                        .build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, unknown.getStatus().getCode());
        assertTrue(unknown.getStatus().getDescription().startsWith("dictionaries:"), unknown.getMessage());
        StatusRuntimeException none = assertThrows(
                StatusRuntimeException.class,
                () -> call(AttributeFeaturesRequest.newBuilder()
                        .setModel("plain")
                        .addPairs(pair())
                        .build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, none.getStatus().getCode());
        assertTrue(none.getStatus().getDescription().contains("--dictionary"), none.getMessage());
        List<AttributeFeaturesEvent> after = call(AttributeFeaturesRequest.newBuilder()
                .setModel("spliced")
                .addPairs(pair())
                .addDictionaries("z-jumprelu")
                .build());
        assertTrue(after.get(after.size() - 1).hasSummary());
        assertTrue(after.get(after.size() - 1).getSummary().getMagnitudes());
    }

    @Test
    void aModelWithDictionariesGivesTheOutputsItGivesWithoutThemBitForBit() {
        for (Method method : List.of(Method.ATP, Method.ACTIVATION_PATCHING)) {
            List<List<Float>> values = new ArrayList<>();
            for (String model : List.of("spliced", "plain")) {
                List<Float> all = new ArrayList<>();
                PatchbayGrpc.newBlockingStub(channel)
                        .attribute(AttributeRequest.newBuilder()
                                .setModel(model)
                                .addPairs(pair())
                                .setMethod(method)
                                .setNodes(NodeSet.newBuilder()
                                        .addKinds(NodeKind.HEAD_OUTPUT)
                                        .addKinds(NodeKind.RESIDUAL)
                                        .setPerPosition(true))
                                .build())
                        .forEachRemaining((AttributeEvent e) -> {
                            if (e.hasBlock()) {
                                all.addAll(e.getBlock().getValuesList());
                            }
                            if (e.hasSummary()) {
                                all.add((float) e.getSummary().getCleanMetric());
                                all.add((float) e.getSummary().getNoiseMetric());
                            }
                        });
                values.add(all);
            }
            assertFalse(values.get(0).isEmpty());
            assertEquals(values.get(0), values.get(1), method.name());
        }
    }

    /** Keeps the blocks an in-process run streams. */
    private record Collect(List<AttributeFeatures.Block> blocks) implements AttributeFeatures.Events {
        @Override
        public void accepted(dev.patchbay.operations.Accepted accepted) {}

        @Override
        public void block(AttributeFeatures.Block block) {
            blocks.add(block);
        }

        @Override
        public void progress(String stage, long done, long total) {}

        @Override
        public void verified(AttributeFeatures.Verified verified) {}

        @Override
        public void diagnostic(AttributeFeatures.Diagnostic diagnostic) {}

        @Override
        public void summary(dev.patchbay.operations.Summary summary) {}
    }
}
