package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.GenerateRequest;
import dev.patchbay.proto.v1.Intervention;
import dev.patchbay.proto.v1.InterventionOp;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.TokenIds;
import dev.patchbay.server.config.ServerLimits;
import dev.patchbay.server.rpc.ErrorText;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Error messages quote the input at fault, cut short: a 1 MB node or site name made a 1 MB status, and the client saw its
 * transport's metadata-size error instead of INVALID_ARGUMENT naming the field.
 */
class ErrorTextTest {
    @Test
    void aMegabyteSiteNameIsInvalidArgumentWithTheNameCut() throws Exception {
        String huge = "blocks.0.hook_" + "x".repeat(1 << 20);
        try (LoadedModel model = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32)) {
            String name = InProcessServerBuilder.generateName();
            ServerLimits limits = new ServerLimits(4 << 20, 64, 256, 100_000, 4, 2, 4096);
            try (PatchbayServer server = PatchbayServer.start(
                    InProcessServerBuilder.forName(name), Map.of("m", model), SchedulerConfig.defaults(), limits)) {
                ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
                try {
                    GenerateRequest request = GenerateRequest.newBuilder()
                            .setModel("m")
                            .addPrompts(Prompt.newBuilder()
                                    .setIds(TokenIds.newBuilder().addIds(5).addIds(17)))
                            .addInterventions(
                                    Intervention.newBuilder().setSite(huge).setOp(InterventionOp.OP_ZERO))
                            .build();
                    StatusRuntimeException e = assertThrows(
                            StatusRuntimeException.class,
                            () -> PatchbayGrpc.newBlockingStub(channel)
                                    .generate(request)
                                    .hasNext());
                    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
                    String description = e.getStatus().getDescription();
                    assertTrue(description.contains("interventions[0].site"), description);
                    assertTrue(
                            description.length() < ErrorText.MAX_MESSAGE + 100, description.length() + " characters");
                    assertTrue(description.contains("more characters)"), description);
                } finally {
                    channel.shutdownNow();
                }
            }
        }
    }

    @Test
    void longWordsAreCutAndShortMessagesKept() {
        assertEquals("pairs[0]: no answers", ErrorText.shortened("pairs[0]: no answers"));
        String cut = ErrorText.shortened("nodes: '" + "x".repeat(500) + "' is not a node");
        assertTrue(cut.startsWith("nodes: '" + "x".repeat(ErrorText.MAX_ECHO - 1)), cut);
        assertTrue(cut.endsWith(" is not a node"), cut);
        assertTrue(cut.contains("(302 more characters)"), cut);
        assertTrue(ErrorText.shortened("word ".repeat(2000)).length() < ErrorText.MAX_MESSAGE + 40);
    }
}
