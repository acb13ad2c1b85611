package dev.patchbay.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.Gson;
import com.google.gson.JsonObject;
import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.model.ForwardResult;
import dev.patchbay.model.Hooks;
import dev.patchbay.model.TokenBatch;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Prints a checkpoint's next-token logits for a text, so anyone can check it against another implementation. */
@Command(
        name = "logits",
        mixinStandardHelpOptions = true,
        description = "Runs one forward pass and prints the final position's logits.")
final class LogitsCommand implements Callable<Integer> {
    @Option(
            names = "--model",
            description = "Hugging Face model directory (default: the bundled " + BundledModel.RELATIVE_PATH + ").")
    Path model;

    @Option(names = "--text", required = true, description = "The prompt.")
    String text;

    @Option(names = "--json", description = "Print one JSON object: {\"tokens\": [ids], \"logits\": [final position]}.")
    boolean json;

    @Option(
            names = "--top",
            defaultValue = "10",
            description = "Next tokens to list without --json (default: ${DEFAULT-VALUE}).")
    int top;

    @Mixin
    DtypeOption precision = new DtypeOption();

    @Mixin
    DeviceOption device = new DeviceOption();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        try (LoadedModel loaded = LoadedModel.load(
                        model != null ? model : BundledModel.directory(), precision.dataType(), device.compute());
                NDManager scope = loaded.transformer().compute().newScope()) {
            TextTokenizer.Tokens tokens = loaded.tokenizer().encodeKnown(text);
            if (tokens.ids().length == 0) {
                throw new IllegalArgumentException("--text tokenizes to no tokens");
            }
            ForwardResult result = loaded.transformer().forward(scope, TokenBatch.of(tokens.ids()), Hooks.NONE);
            NDArray last = result.logits().get("0, -1");
            // Doubles whatever the dtype: with --dtype fp64 the digits are the point.
            double[] logits = last.toType(DataType.FLOAT64, false).toDoubleArray();
            if (json) {
                JsonObject o = new JsonObject();
                o.addProperty("model", loaded.name());
                o.add("tokens", new Gson().toJsonTree(tokens.ids()));
                o.add("logits", new Gson().toJsonTree(logits));
                out.println(o);
            } else {
                out.printf("%s: %d tokens %s%n", loaded.name(), tokens.ids().length, Arrays.toString(tokens.strings()));
                double[] logProbs =
                        last.logSoftmax(-1).toType(DataType.FLOAT64, false).toDoubleArray();
                out.printf("%-6s %-16s %10s %10s%n", "rank", "next token", "logit", "prob");
                int[] order = IntStream.range(0, logits.length)
                        .boxed()
                        .sorted(Comparator.comparingDouble(i -> -logits[i]))
                        .mapToInt(Integer::intValue)
                        .toArray();
                for (int r = 0; r < Math.min(top, order.length); r++) {
                    int id = order[r];
                    out.printf(
                            "%-6d %-16s %10.4f %10.4f%n",
                            r + 1, quoted(loaded.tokenizer().decode(id)), logits[id], Math.exp(logProbs[id]));
                }
            }
            out.flush();
        }
        return 0;
    }

    private static String quoted(String token) {
        return "'" + token.replace("\n", "\\n") + "'";
    }
}
