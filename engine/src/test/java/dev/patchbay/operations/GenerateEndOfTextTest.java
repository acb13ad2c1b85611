package dev.patchbay.operations;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.patchbay.TestCheckpoints;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.passes.Budget;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A continuation ends where transformers' {@code generate} ends it: at the model's end-of-text token, read from its
 * checkpoint (testdata/golden/generation-bundled.json, tools/make_generation_golden.py: greedy {@code generate} on
 * the bundled models in their float32, each prompt alone). Token ids must be equal, including where a continuation
 * stops and, with the end-of-text token ignored, every token after it; the prompts run batched here (of different
 * lengths), so a finished prompt must not disturb the others.
 */
class GenerateEndOfTextTest {
    private static final JsonObject GOLDEN = TestCheckpoints.goldenJson("generation-bundled.json");

    @ParameterizedTest
    @ValueSource(strings = {"patchbay-tiny", "patchbay-tiny-llama"})
    void greedyGenerationStopsWhereTransformersStops(String name) {
        JsonObject golden = GOLDEN.getAsJsonObject("models").getAsJsonObject(name);
        int newTokens = GOLDEN.get("new_tokens").getAsInt();
        try (LoadedModel m = TestCheckpoints.load(name, DataType.FLOAT32)) {
            assertEquals(
                    List.of(golden.get("eos_token_id").getAsInt()), m.config().endOfText(), name);
            Serving on = new Serving(m.transformer(), new Budget(m.config(), 4, 1L << 30), RequestLimits.unlimited(8));
            List<JsonObject> runs = StreamSupport.stream(
                            golden.getAsJsonArray("runs").spliterator(), false)
                    .map(JsonElement::getAsJsonObject)
                    .toList();
            List<int[]> prompts =
                    runs.stream().map(r -> ints(r.getAsJsonArray("prompt"))).toList();
            for (boolean ignoreEos : new boolean[] {false, true}) {
                List<Generate.Continuation> ends = new ArrayList<>();
                List<int[]> out = Generate.run(
                        PassRunner.direct(m.transformer()),
                        Generate.plan(
                                new Generate.Request(
                                        prompts, List.of(), List.of(), newTokens, null, ignoreEos, 0, 0, 0, 0, 0, null),
                                on),
                        new Generate.Events() {
                            @Override
                            public void accepted(Accepted accepted) {}

                            @Override
                            public void token(Generate.Token token) {}

                            @Override
                            public void continuation(Generate.Continuation continuation) {
                                ends.add(continuation);
                            }

                            @Override
                            public void summary(Summary summary) {}
                        });
                for (int p = 0; p < prompts.size(); p++) {
                    int[] expected = ints(runs.get(p).getAsJsonArray(ignoreEos ? "ignoring_eos" : "generated"));
                    String what = name + ", \"" + runs.get(p).get("text").getAsString() + "\""
                            + (ignoreEos ? ", end of text ignored" : "");
                    assertArrayEquals(expected, out.get(p), what);
                    assertEquals(expected.length < newTokens, ends.get(p).stopped(), what + ": stopped");
                }
            }
        }
    }

    private static int[] ints(JsonArray a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsInt();
        }
        return out;
    }
}
