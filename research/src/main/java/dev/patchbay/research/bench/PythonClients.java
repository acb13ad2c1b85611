package dev.patchbay.research.bench;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * The served path as a researcher meets it: {@code research/src/main/python/service_clients.py} sends AtP
 * requests over every attention and neuron node per position through the Python client, one after another,
 * from eight threads, and as one sweep. The TransformerLens figures are constants measured once (issue 11, on
 * the same 2-core machine, GPT-2-small shape, fp32, 64-token pairs), so the benchmark never needs TransformerLens.
 */
final class PythonClients {
    /** 20 AtP requests over the same nodes as a plain TransformerLens loop: one pair per forward and backward. */
    static final double TRANSFORMER_LENS_LOOP_SECONDS = 47;
    /** The same 20 pairs batched into one TransformerLens forward and backward. */
    static final double TRANSFORMER_LENS_BATCHED_SECONDS = 21;

    private static final String SCRIPT = "research/src/main/python/service_clients.py";

    private PythonClients() {}

    static List<Benchmark.Row> run(int port, String model, int tokens, int vocab, int requests, int clients)
            throws InterruptedException {
        List<Benchmark.Row> rows = new ArrayList<>();
        String python = System.getenv().getOrDefault("PATCHBAY_PYTHON", "python3");
        PythonScript.Outcome outcome = PythonScript.run(
                python,
                SCRIPT,
                List.of(
                        "--target",
                        "127.0.0.1:" + port,
                        "--model",
                        model,
                        "--tokens",
                        Integer.toString(tokens),
                        "--vocab",
                        Integer.toString(vocab),
                        "--requests",
                        Integer.toString(requests),
                        "--clients",
                        Integer.toString(clients)),
                20,
                "is the client installed? pip install -e client-python");
        if (!outcome.ok()) {
            rows.add(notMeasured(outcome.failure()));
            return rows;
        }
        JsonObject r = outcome.json();
        double oneByOne = r.get("one_after_another_s").getAsDouble();
        double concurrent = r.get("concurrent_s").getAsDouble();
        double sweep = r.get("sweep_s").getAsDouble();
        double handling = r.get("client_cpu_per_response_s").getAsDouble();
        long effects = r.get("effects_per_response").getAsLong();
        String name = requests + " AtP requests, Python client, ";
        rows.add(new Benchmark.Row(
                name + "one after another",
                oneByOne,
                0,
                String.format(
                        "<= %.1f s, half the TransformerLens loop's %.0f s (measured %.2fx faster)",
                        TRANSFORMER_LENS_LOOP_SECONDS / 2,
                        TRANSFORMER_LENS_LOOP_SECONDS,
                        TRANSFORMER_LENS_LOOP_SECONDS / oneByOne)));
        rows.add(new Benchmark.Row(
                name + clients + " threads at once",
                concurrent,
                0,
                String.format(">= 1.5x one after another (measured %.2fx)", oneByOne / concurrent)));
        rows.add(new Benchmark.Row(
                name + "one sweep",
                sweep,
                0,
                String.format(
                        "< TransformerLens batched %.0f s (measured %.2fx faster)",
                        TRANSFORMER_LENS_BATCHED_SECONDS, TRANSFORMER_LENS_BATCHED_SECONDS / sweep)));
        rows.add(new Benchmark.Row(
                String.format("Python client CPU per response (%.1fM effects)", effects / 1e6),
                handling,
                0,
                "< 0.2 s"));
        return rows;
    }

    private static Benchmark.Row notMeasured(String why) {
        return new Benchmark.Row("Python clients", 0, 0, "not measured: " + why);
    }
}
