package dev.patchbay.research.bench;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * What a researcher would write by hand, side by side: {@code tools/torch_reference.py} times a forward pass, AtP
 * over the same nodes, batched activation patching of the 144 heads and an AtP sweep in plain PyTorch +
 * transformers on the same shapes and device, in the same run, and each row says how Patchbay's time compares.
 * The Python is {@code PATCHBAY_REFERENCE_PYTHON}, else {@code PATCHBAY_TORCH} (the one the GPU launch uses),
 * else python3; without torch and transformers the rows say "not measured".
 */
public final class TorchReference {
    private static final String SCRIPT = "tools/torch_reference.py";

    private TorchReference() {}

    /** The reference's rows, each against the Patchbay row of the same measurement in {@code patchbay}. */
    public static List<Benchmark.Row> run(
            List<Benchmark.Row> patchbay,
            Benchmark.ModelShape shape,
            String device,
            int tokens,
            int repeats,
            int sweepPairs)
            throws InterruptedException {
        String python = System.getenv()
                .getOrDefault("PATCHBAY_REFERENCE_PYTHON", System.getenv().getOrDefault("PATCHBAY_TORCH", "python3"));
        PythonScript.Outcome outcome = PythonScript.run(
                python,
                SCRIPT,
                List.of(
                        "--device",
                        device,
                        "--shape",
                        shape.id(),
                        "--tokens",
                        Integer.toString(tokens),
                        "--repeats",
                        Integer.toString(repeats),
                        "--pairs",
                        Integer.toString(sweepPairs)),
                30,
                "it needs torch and transformers; set PATCHBAY_REFERENCE_PYTHON to a Python that has them");
        List<Benchmark.Row> rows = new ArrayList<>();
        if (!outcome.ok()) {
            rows.add(new Benchmark.Row("plain PyTorch reference", 0, 0, "not measured: " + outcome.failure()));
            return rows;
        }
        JsonObject r = outcome.json();
        Map<String, Benchmark.Row> ours =
                patchbay.stream().collect(Collectors.toMap(Benchmark.Row::name, Function.identity(), (a, b) -> a));
        double forward = r.get("forward_s").getAsDouble();
        String prefix = "plain PyTorch " + r.get("torch").getAsString() + ": ";
        rows.add(compare(prefix + "forward", forward, forward, ours.get(Benchmark.FORWARD), "within 2x"));
        rows.add(compare(prefix + "AtP", r.get("atp_s").getAsDouble(), forward, ours.get(Benchmark.ATP), "within 2x"));
        rows.add(compare(
                prefix + "batched activation patching",
                r.get("ap_batched_s").getAsDouble(),
                forward,
                ours.get(Benchmark.AP_BATCHED),
                "Patchbay faster"));
        rows.add(compareOps(
                prefix + "ops issued, forward", r.getAsJsonObject("forward_ops"), ours.get(Benchmark.FORWARD_OPS)));
        rows.add(compareOps(prefix + "ops issued, AtP", r.getAsJsonObject("atp_ops"), ours.get(Benchmark.ATP_OPS)));
        int pairs = r.get("sweep_pairs").getAsInt();
        rows.add(comparePairs(
                prefix + "AtP sweep, " + pairs + " pairs",
                pairs,
                r.get("sweep_pairs_per_s").getAsDouble(),
                forward,
                ours.get(Benchmark.SWEEP)));
        rows.add(comparePairs(
                prefix + "AtP of each pair, every effect returned, " + pairs + " pairs",
                pairs,
                r.get("sweep_each_pairs_per_s").getAsDouble(),
                forward,
                ours.get(Benchmark.SWEEP_EACH)));
        return rows;
    }

    /** A sweep's throughput beside Patchbay's row for the same pairs (target: more pairs per second). */
    private static Benchmark.Row comparePairs(
            String name, int pairs, double pairsPerSecond, double forward, Benchmark.Row patchbay) {
        double seconds = pairs / pairsPerSecond;
        return new Benchmark.Row(
                name,
                seconds,
                seconds / forward,
                patchbay == null
                        ? String.format("%.2f pairs/s", pairsPerSecond)
                        : String.format(
                                "%.2f pairs/s; Patchbay %.2f (%.2fx; target: faster)",
                                pairsPerSecond,
                                pairs / patchbay.medianSeconds(),
                                pairs / patchbay.medianSeconds() / pairsPerSecond));
    }

    /** The reference's op counts beside Patchbay's (whose row says them in its target column). */
    private static Benchmark.Row compareOps(String name, JsonObject counts, Benchmark.Row patchbay) {
        String reference = String.format(
                "%d computing ops (%d in all)",
                counts.get("computing").getAsInt(), counts.get("ops").getAsInt());
        return new Benchmark.Row(name, 0, 0, reference + (patchbay == null ? "" : "; Patchbay " + patchbay.target()));
    }

    private static Benchmark.Row compare(
            String name, double seconds, double forward, Benchmark.Row patchbay, String target) {
        String versus = patchbay == null
                ? "Patchbay not measured in this run"
                : String.format(
                        "Patchbay %.4f s = %.2fx this (target: %s)",
                        patchbay.medianSeconds(), patchbay.medianSeconds() / seconds, target);
        return new Benchmark.Row(name, seconds, seconds / forward, versus);
    }
}
