package dev.patchbay.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.generation.Generation;
import dev.patchbay.model.Intervention;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.Generate;
import dev.patchbay.operations.Summary;
import dev.patchbay.passes.PassRunner;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Generation in-process, with interventions written as SITE[UNITS] OP [VALUE] [x COEFFICIENT] [at POSITIONS]. */
@Command(
        name = "generate",
        mixinStandardHelpOptions = true,
        description = "Continues a prompt, greedy or sampled, with interventions at hook sites at every step:"
                + " --intervene 'blocks.1.hook_resid_pre add direction.json x 4 at generated',"
                + " 'blocks.0.attn.hook_z[1] zero', 'blocks.1.mlp.hook_post[3,5] set 0.7',"
                + " 'blocks.0.hook_resid_pre scale 0.5 at prompt', 'blocks.2.attn.hook_z[2] patch' (from --source)."
                + " Prints the continuation as it is produced.")
final class GenerateCommand implements Callable<Integer> {
    /** SITE[UNITS] OP [VALUE] [x COEFFICIENT] [at POSITIONS]. */
    private static final Pattern SYNTAX =
            Pattern.compile("\\s*([\\w.]+)(?:\\[([\\d,\\s]+)\\])?\\s+(add|set|scale|zero|patch)"
                    + "(?:\\s+(?!x\\s|at\\s)(\\S+))?(?:\\s+x\\s+(\\S+))?(?:\\s+at\\s+(\\S+))?\\s*");

    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled model).")
    Path model;

    @Option(names = "--text", required = true, description = "The prompt; repeat for several.")
    List<String> texts;

    @Option(
            names = "--max-new-tokens",
            defaultValue = "0",
            description = "(default: " + Generate.DEFAULT_MAX_NEW_TOKENS + ").")
    int maxNewTokens;

    @Option(names = "--intervene", description = "An intervention (see above); repeat for several.")
    List<String> interventions = new ArrayList<>();

    @Option(names = "--temperature", defaultValue = "0", description = "0: greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Sample among the k most likely; 0: all.")
    int topK;

    @Option(names = "--top-p", defaultValue = "0", description = "Sample within probability p; 0 or 1: all.")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "The sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--source", description = "The prompt patch interventions take their activations from.")
    String source;

    @Option(
            names = "--stop",
            description = "A token that ends the continuation, beside the model's end-of-text token; repeat for"
                    + " several.")
    List<String> stop = new ArrayList<>();

    @Option(
            names = "--ignore-eos",
            description =
                    "Go on past the model's end-of-text token (eos_token_id), where transformers' generate" + " stops.")
    boolean ignoreEos;

    @Option(names = "--json", description = "Print each continuation as a JSON object instead.")
    boolean json;

    @Mixin
    DtypeOption precision = new DtypeOption();

    @Mixin
    DeviceOption device = new DeviceOption();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        List<Generation.Steer> steers = new ArrayList<>();
        List<String[]> patchSites = new ArrayList<>();
        for (String text : interventions) {
            Matcher m = SYNTAX.matcher(text);
            if (m.matches() && m.group(3).equals("patch")) {
                if (m.group(4) != null || m.group(5) != null || m.group(6) != null) {
                    throw new IllegalArgumentException("--intervene: '" + text + "': patch takes no value, factor or"
                            + " positions (it patches the --source prompt's positions)");
                }
                patchSites.add(new String[] {m.group(1), m.group(2)});
            } else {
                steers.add(parse(text));
            }
        }
        if (!patchSites.isEmpty() && source == null) {
            throw new IllegalArgumentException("--source: a patch intervention needs the prompt to patch from");
        }
        try (LoadedModel loaded = LoadedModel.load(
                model != null ? model : BundledModel.directory(), precision.dataType(), device.compute())) {
            TextTokenizer tokenizer = loaded.tokenizer();
            List<int[]> prompts = new ArrayList<>();
            for (String t : texts) {
                prompts.add(tokenizer.encodeKnown(t).ids());
            }
            int[] stops = stop.stream().mapToInt(tokenizer::singleToken).toArray();
            List<Generation.PatchFrom> patches = new ArrayList<>();
            for (String[] site : patchSites) {
                patches.add(new Generation.PatchFrom(
                        site[0], tokenizer.encodeKnown(source).ids(), site[1] == null ? null : numbers(site[1])));
            }
            Generate.Plan plan = Generate.plan(
                    new Generate.Request(
                            prompts,
                            steers,
                            patches,
                            maxNewTokens,
                            stops,
                            ignoreEos,
                            temperature,
                            topK,
                            topP,
                            seed,
                            0,
                            null),
                    InProcess.serving(loaded, 0));
            boolean one = prompts.size() == 1;
            // One prompt streams: the text decoded so far, printed as it grows (a tokenizer may join tokens with
            // spaces, so the whole sequence is decoded, not each token alone).
            List<Integer> sequence =
                    new ArrayList<>(Arrays.stream(prompts.get(0)).boxed().toList());
            StringBuilder printed = new StringBuilder();
            if (one && !json) {
                printed.append(tokenizer.decode(prompts.get(0)));
                out.print(printed);
                out.flush();
            }
            List<int[]> continuations =
                    Generate.run(PassRunner.direct(loaded.transformer()), plan, new Generate.Events() {
                        @Override
                        public void accepted(Accepted accepted) {}

                        @Override
                        public void token(Generate.Token token) {
                            if (one && !json) {
                                sequence.add(token.token().id());
                                String text = tokenizer.decode(sequence.stream()
                                        .mapToInt(Integer::intValue)
                                        .toArray());
                                if (text.startsWith(printed.toString())) {
                                    out.print(text.substring(printed.length()));
                                    printed.setLength(0);
                                    printed.append(text);
                                }
                                out.flush();
                            }
                        }

                        @Override
                        public void continuation(Generate.Continuation continuation) {}

                        @Override
                        public void summary(Summary summary) {}
                    });
            if (one && !json) {
                out.println();
            }
            for (int p = 0; p < continuations.size(); p++) {
                if (json) {
                    JsonObject o = new JsonObject();
                    o.addProperty("prompt", texts.get(p));
                    o.addProperty("continuation", tokenizer.decode(continuations.get(p)));
                    JsonArray ids = new JsonArray();
                    Arrays.stream(continuations.get(p)).forEach(ids::add);
                    o.add("ids", ids);
                    out.println(o);
                } else if (!one) {
                    int[] whole = Arrays.copyOf(prompts.get(p), prompts.get(p).length + continuations.get(p).length);
                    System.arraycopy(
                            continuations.get(p), 0, whole, prompts.get(p).length, continuations.get(p).length);
                    out.println(tokenizer.decode(whole));
                }
            }
            out.flush();
        }
        return 0;
    }

    /** One --intervene text; errors quote it and say what was expected. */
    static Generation.Steer parse(String text) throws IOException {
        Matcher m = SYNTAX.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("--intervene: '" + text + "' is not SITE[UNITS] add|set|scale|zero"
                    + " [VALUE] [x COEFFICIENT] [at all|prompt|generated|3,4]");
        }
        if (m.group(3).equals("patch")) {
            throw new IllegalArgumentException("--intervene: '" + text + "': patch is read with --source");
        }
        Intervention.Op op = Intervention.Op.valueOf(m.group(3).toUpperCase(Locale.ROOT));
        int[] units = m.group(2) == null ? null : numbers(m.group(2));
        String argument = m.group(4);
        double[] value = null;
        double coefficient = m.group(5) == null ? 1 : Double.parseDouble(m.group(5));
        switch (op) {
            case ADD, SET -> {
                if (argument == null) {
                    throw new IllegalArgumentException("--intervene: '" + text + "': " + m.group(3)
                            + " needs a value (a number, or a JSON file of numbers)");
                }
                value = values(argument);
            }
            case SCALE -> {
                if (argument == null) {
                    throw new IllegalArgumentException("--intervene: '" + text + "': scale needs a factor");
                }
                coefficient = Double.parseDouble(argument);
            }
            case ZERO -> {
                if (argument != null) {
                    throw new IllegalArgumentException("--intervene: '" + text + "': zero takes no value");
                }
            }
        }
        String at = m.group(6) == null ? "all" : m.group(6);
        Generation.Positions where;
        int[] positions = null;
        switch (at) {
            case "all" -> where = Generation.Positions.ALL;
            case "prompt" -> where = Generation.Positions.PROMPT;
            case "generated" -> where = Generation.Positions.GENERATED;
            default -> {
                where = Generation.Positions.GIVEN;
                positions = numbers(at);
            }
        }
        return new Generation.Steer(new Intervention(m.group(1), op, 0, positions, units, value, coefficient), where);
    }

    private static int[] numbers(String list) {
        return Arrays.stream(list.split(","))
                .map(String::strip)
                .mapToInt(Integer::parseInt)
                .toArray();
    }

    /** A number, or a JSON file holding an array of numbers. */
    private static double[] values(String argument) throws IOException {
        try {
            return new double[] {Double.parseDouble(argument)};
        } catch (NumberFormatException notANumber) {
            Path file = Path.of(argument);
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException(
                        "--intervene: value '" + argument + "' is neither a number nor a JSON file");
            }
            JsonElement parsed = JsonParser.parseString(Files.readString(file));
            if (!parsed.isJsonArray()) {
                throw new IllegalArgumentException("--intervene: " + file + " must hold a JSON array of numbers");
            }
            JsonArray a = parsed.getAsJsonArray();
            double[] out = new double[a.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = a.get(i).getAsDouble();
            }
            return out;
        }
    }
}
