package dev.patchbay.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.proto.v1.AttributeEvent;
import dev.patchbay.proto.v1.AttributeFeaturesRequest;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.PatchRequest;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.TokenizeRequest;
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
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Sends every row of {@code docs/bad-inputs.md} to one server and checks each gets its status and a message
 * naming the field, then that the server still answers a normal request: the table is the test's data, so the
 * documentation cannot drift from what the server does.
 */
class BadInputTableTest {
    private static final Path TABLE = Path.of("..", "docs", "bad-inputs.md");
    private static final String PAIR = "{\"clean\":{\"text\":\"" + AttributeServiceTest.CLEAN
            + "\"},\"noise\":{\"text\":\"" + AttributeServiceTest.NOISE
            + "\"},\"answers\":[{\"text\":\" Mary\"}],\"wrongs\":[{\"text\":\" John\"}]}";
    private static final String GROUP =
            "{\"nodes\":[{\"kind\":\"HEAD_OUTPUT\",\"layer\":0,\"unit\":0,\"position\":-1}]}";

    /** One row: what it is, which RPC, the request as proto3 JSON, the status and a part of the message. */
    record Row(String number, String name, String rpc, String json, Status.Code status, String names) {}

    @Test
    void everyRowGetsItsStatusAndNamesItsFieldAndTheServerKeepsServing() throws Exception {
        List<Row> rows = rows();
        assertTrue(rows.size() >= 50, "the table has " + rows.size() + " rows");
        try (LoadedModel gpt2 = TestCheckpoints.load("tiny-gpt2", DataType.FLOAT32);
                LoadedModel llama = TestCheckpoints.load("tiny-llama", DataType.FLOAT32);
                LoadedModel tiny = TestCheckpoints.load(TestCheckpoints.DEFAULT_MODEL, DataType.FLOAT32)) {
            // tiny-gpt2 has a sparse dictionary spliced in (for AttributeFeatures' rows); tiny-llama has none.
            gpt2.addDictionary(
                    "resid-relu", TestCheckpoints.dictionaryDir("tiny-gpt2", "resid-relu"), "blocks.1.hook_resid_pre");
            String name = InProcessServerBuilder.generateName();
            try (PatchbayServer server = PatchbayServer.start(
                    InProcessServerBuilder.forName(name),
                    Map.of("tiny-gpt2", gpt2, "tiny-llama", llama, "tiny", tiny),
                    new SchedulerConfig(32, 8192, Duration.ZERO, 0),
                    new ServerLimits(1 << 20, 64, 256, 100_000, 8, 2, 4096))) {
                ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
                try {
                    List<String> wrong = new ArrayList<>();
                    Map<Status.Code, Integer> totals = new EnumMap<>(Status.Code.class);
                    for (Row row : rows) {
                        Status got = send(channel, row);
                        totals.merge(got.getCode(), 1, Integer::sum);
                        String message = String.valueOf(got.getDescription());
                        if (got.getCode() != row.status() || !message.contains(row.names())) {
                            wrong.add("#" + row.number() + " " + row.name() + ": expected " + row.status() + " naming '"
                                    + row.names() + "', got " + got.getCode() + ": " + message);
                        }
                    }
                    System.out.println("bad inputs: " + rows.size() + " rows, " + totals);
                    assertTrue(wrong.isEmpty(), String.join("\n", wrong));
                    List<AttributeEvent> events = new ArrayList<>();
                    PatchbayGrpc.newBlockingStub(channel)
                            .attribute(parse(
                                    AttributeRequest.newBuilder(),
                                    expand("{\"model\":\"tiny-gpt2\",\"pairs\":[$PAIR],\"nodes\":$HEADS}")))
                            .forEachRemaining(events::add);
                    assertFalse(events.isEmpty(), "the server keeps serving");
                    assertTrue(events.get(events.size() - 1).hasSummary());
                } finally {
                    channel.shutdownNow();
                }
            }
        }
    }

    private static Status send(ManagedChannel channel, Row row) throws InvalidProtocolBufferException {
        var stub = PatchbayGrpc.newBlockingStub(channel);
        String json = expand(row.json());
        try {
            switch (row.rpc()) {
                case "Attribute" ->
                    stub.attribute(parse(AttributeRequest.newBuilder(), json)).forEachRemaining(e -> {});
                case "Patch" ->
                    stub.patch(parse(PatchRequest.newBuilder(), json)).forEachRemaining(e -> {});
                case "Tokenize" -> stub.tokenize(parse(TokenizeRequest.newBuilder(), json));
                case "Generate" ->
                    stub.generate(parse(dev.patchbay.proto.v1.GenerateRequest.newBuilder(), json))
                            .forEachRemaining(e -> {});
                case "AttributeEdges" ->
                    stub.attributeEdges(parse(dev.patchbay.proto.v1.AttributeEdgesRequest.newBuilder(), json))
                            .forEachRemaining(e -> {});
                case "AttributeFeatures" ->
                    stub.attributeFeatures(parse(AttributeFeaturesRequest.newBuilder(), json))
                            .forEachRemaining(e -> {});
                case "Scrub" ->
                    stub.scrub(parse(dev.patchbay.proto.v1.ScrubRequest.newBuilder(), json))
                            .forEachRemaining(e -> {});
                default -> throw new IllegalArgumentException("row " + row.number() + ": unknown RPC " + row.rpc());
            }
            return Status.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus();
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends Message> T parse(Message.Builder builder, String json)
            throws InvalidProtocolBufferException {
        JsonFormat.parser().merge(json, builder);
        return (T) builder.build();
    }

    /** The table's shorthands: $PAIR, $HEADS, $PAIRS(n), $GROUPS(n), $IDS(n), $TEXT(n), $ZEROS(n). */
    static String expand(String json) {
        json = replace(json, "\\$PAIRS\\((\\d+)\\)", n -> String.join(",", Collections.nCopies(n, PAIR)));
        json = replace(json, "\\$GROUPS\\((\\d+)\\)", n -> String.join(",", Collections.nCopies(n, GROUP)));
        json = replace(
                json,
                "\\$IDS\\((\\d+)\\)",
                n -> IntStream.range(0, n)
                        .mapToObj(i -> Integer.toString(3 + i % 200))
                        .collect(Collectors.joining(",")));
        json = replace(json, "\\$TEXT\\((\\d+)\\)", "a"::repeat);
        json = replace(
                json,
                "\\$ZEROS\\((\\d+)\\)",
                n -> String.join(
                        ",", Collections.nCopies(n, "{\"site\":\"blocks.0.hook_resid_pre\",\"op\":\"OP_ZERO\"}")));
        return json.replace("$PAIR", PAIR).replace("$HEADS", "{\"kinds\":[\"HEAD_OUTPUT\"]}");
    }

    private static String replace(String text, String regex, Function<Integer, String> with) {
        Matcher m = Pattern.compile(regex).matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(with.apply(Integer.parseInt(m.group(1)))));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** The numbered rows of the first table. */
    static List<Row> rows() throws IOException {
        List<Row> rows = new ArrayList<>();
        for (String line : Files.readAllLines(TABLE)) {
            if (!line.matches("\\| \\d+ \\|.*")) {
                continue;
            }
            String[] cells = line.substring(1, line.length() - 1).split(" \\| ", -1);
            assertEquals(6, cells.length, "a row needs 6 cells: " + line);
            String json = cells[3].strip();
            assertTrue(json.startsWith("`") && json.endsWith("`"), "the request is `code`: " + line);
            rows.add(new Row(
                    cells[0].strip(),
                    cells[1].strip(),
                    cells[2].strip(),
                    json.substring(1, json.length() - 1),
                    Status.Code.valueOf(cells[4].strip()),
                    cells[5].strip()));
        }
        return rows;
    }
}
