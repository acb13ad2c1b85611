package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.NodeKind;
import dev.patchbay.proto.v1.NodeSet;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.PromptPair;
import dev.patchbay.proto.v1.Token;
import dev.patchbay.proto.v1.TokenizeRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The bundled model's word-level tokenizer read any word it lacks as its unknown token, silently: the answer
 * " Zebediah" gave a clean metric of 1.86 instead of 14.9. A word the vocabulary lacks is refused, naming it,
 * unless the request asks for the unknown token with allow_unknown_tokens.
 */
class UnknownWordsTest {
    private static final String CLEAN = "When Mary and John went to the store, John gave a drink to";
    private static final String NOISE = "When Mary and John went to the store, Mary gave a drink to";

    @Test
    void aWordTheVocabularyLacksIsRefusedUnlessTheRequestAllowsIt() throws Exception {
        try (LoadedModel model = TestCheckpoints.load(TestCheckpoints.DEFAULT_MODEL, DataType.FLOAT32)) {
            String name = InProcessServerBuilder.generateName();
            try (PatchbayServer server = PatchbayServer.start(
                    InProcessServerBuilder.forName(name),
                    Map.of("tiny", model),
                    dev.patchbay.execution.SchedulerConfig.defaults(),
                    dev.patchbay.server.config.ServerLimits.defaults())) {
                ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
                try {
                    var stub = PatchbayGrpc.newBlockingStub(channel);
                    AttributeRequest.Builder zebediah = AttributeRequest.newBuilder()
                            .setModel("tiny")
                            .setMethod(Method.ATP)
                            .setNodes(NodeSet.newBuilder().addKinds(NodeKind.HEAD_OUTPUT))
                            .addPairs(PromptPair.newBuilder()
                                    .setClean(Prompt.newBuilder().setText(CLEAN))
                                    .setNoise(Prompt.newBuilder().setText(NOISE))
                                    .addAnswers(Token.newBuilder().setText(" Zebediah"))
                                    .addWrongs(Token.newBuilder().setText(" John")));
                    StatusRuntimeException refused = assertThrows(
                            StatusRuntimeException.class,
                            () -> stub.attribute(zebediah.build()).hasNext());
                    assertEquals(
                            Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode());
                    String message = refused.getStatus().getDescription();
                    assertTrue(message.contains("pairs[0].answers[0]") && message.contains("Zebediah"), message);

                    List<AttributeEvent> events = new ArrayList<>();
                    stub.attribute(zebediah.setAllowUnknownTokens(true).build()).forEachRemaining(events::add);
                    assertTrue(events.get(events.size() - 1).hasSummary(), "allowed, the request runs");

                    TokenizeRequest unknownPrompt = TokenizeRequest.newBuilder()
                            .setModel("tiny")
                            .setText("The capital of Zebediah is")
                            .build();
                    StatusRuntimeException tokenize =
                            assertThrows(StatusRuntimeException.class, () -> stub.tokenize(unknownPrompt));
                    assertTrue(
                            tokenize.getStatus().getDescription().contains("allow_unknown_tokens"),
                            tokenize.getMessage());
                    var read = stub.tokenize(unknownPrompt.toBuilder()
                            .setAllowUnknownTokens(true)
                            .build());
                    assertEquals(5, read.getIdsCount(), read.toString());
                } finally {
                    channel.shutdownNow();
                }
            }
        }
    }
}
