package dev.patchbay.research;

import ai.djl.ndarray.types.DataType;
import dev.patchbay.checkpoint.BundledModel;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.cli.DeviceOption;
import dev.patchbay.client.AttributionEvent;
import dev.patchbay.client.AttributionRequest;
import dev.patchbay.client.AttributionResults;
import dev.patchbay.client.HeadHeatmap;
import dev.patchbay.client.Nodes;
import dev.patchbay.client.PatchbayClient;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.server.PatchbayServer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The first run: a server in-process, AtP* on an indirect-object prompt through the Java client, the top heads
 * streamed as they arrive, the top ten verified by activation patching, and a heatmap of every head.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = "Finds the heads behind indirect object identification on the bundled model, and draws them.")
final class DemoCommand implements Callable<Integer> {
    static final String CLEAN = "When Mary and John went to the store, John gave a drink to";
    static final String NOISE = "When Mary and John went to the store, Mary gave a drink to";

    @Mixin
    DeviceOption device = new DeviceOption();

    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled model).")
    Path model;

    @Option(
            names = "--out",
            defaultValue = "patchbay-demo-heads.png",
            description = "Where to write the heatmap (default: ${DEFAULT-VALUE}).")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        try (LoadedModel loaded = LoadedModel.load(
                model != null ? model : BundledModel.directory(), DataType.FLOAT32, device.compute())) {
            PatchbayServer server = PatchbayServer.start(0, Map.of(loaded.name(), loaded));
            try (PatchbayClient client = PatchbayClient.connect("127.0.0.1:" + server.port())) {
                w.printf("Patchbay demo: server on port %d with %s%n", server.port(), loaded.name());
                w.printf("clean: %s ...Mary?%nnoise: %s ...John?%n", CLEAN, NOISE);
                w.println("AtP* over every head: which heads make the model answer Mary rather than John?");
                w.flush();
                var request = AttributionRequest.forModel(loaded.name())
                        .pair(CLEAN, NOISE, " Mary", " John")
                        .method(Method.ATP_STAR)
                        .nodes(Nodes.heads())
                        .verifyTopK(10)
                        .build();
                List<AttributionEvent> events = new ArrayList<>();
                try (Stream<AttributionEvent> stream = client.attribute(request)) {
                    stream.forEach(e -> {
                        events.add(e);
                        show(w, e);
                    });
                }
                // AtP* scores are magnitudes; the signed AtP (with the QK fix) estimate says which way each head
                // pushes. Four more passes on this model.
                Map<String, Double> signed = new HashMap<>();
                try (Stream<AttributionEvent> stream = client.attribute(AttributionRequest.forModel(loaded.name())
                        .pair(CLEAN, NOISE, " Mary", " John")
                        .method(Method.ATP_QK)
                        .nodes(Nodes.heads())
                        .build())) {
                    AttributionResults.collect(stream).rows().forEach(r -> signed.put(r.name(), r.estimate()));
                }
                printVerified(w, events, signed);
                AttributionResults results = AttributionResults.collect(events.stream());
                Path picture = HeadHeatmap.write(
                        results, "AtP* score per head on " + loaded.name() + ": logit(Mary) - logit(John)", out);
                w.printf("heatmap of every head's AtP* score: %s%n", picture.toAbsolutePath());
                w.flush();
            } finally {
                server.close();
            }
        }
        return 0;
    }

    private static void show(PrintWriter w, AttributionEvent e) {
        if (e instanceof AttributionEvent.Accepted a) {
            w.printf(
                    "accepted %s: %d nodes, about %.0f forward passes planned%n",
                    a.requestId(), a.nodeCount(), a.plannedForwardPasses());
        } else if (e instanceof AttributionEvent.Effects fx) {
            var top = fx.nodes().stream()
                    .sorted(Comparator.comparingDouble(n -> -Math.abs(n.estimate())))
                    .limit(3)
                    .toList();
            w.printf(
                    "layer %d heads arrived; largest: %s%n",
                    fx.layer(),
                    String.join(
                            ", ",
                            top.stream()
                                    .map(n -> String.format("%s %.3f", n.name(), n.estimate()))
                                    .toList()));
        } else if (e instanceof AttributionEvent.Summary s) {
            w.printf(
                    "metric %s: clean %.3f, noise %.3f; %.0f forward passes, %.2f s%n",
                    s.metric(), s.cleanMetric(), s.noiseMetric(), s.forwardPasses(), s.wallSeconds());
        }
        w.flush();
    }

    /** The verified heads beside both estimates, and what the comparison shows. */
    private static void printVerified(PrintWriter w, List<AttributionEvent> events, Map<String, Double> signed) {
        List<AttributionEvent.Verified> verified = events.stream()
                .filter(AttributionEvent.Verified.class::isInstance)
                .map(AttributionEvent.Verified.class::cast)
                .toList();
        if (verified.isEmpty()) {
            return;
        }
        w.println();
        w.println("AtP* ranks heads by the size of their estimated effect (a magnitude, >= 0: GradDrop averages");
        w.println("|estimates|); the signed AtP estimate shows the direction. Estimates can misorder heads, so the");
        w.println(
                "top ten were verified: each patched for real from the noise prompt (its true effect on the metric).");
        w.printf("%-5s %-8s %11s %14s %16s%n", "rank", "head", "AtP* score", "AtP (signed)", "patched effect");
        for (AttributionEvent.Verified v : verified) {
            w.printf(
                    "%-5d %-8s %11.4f %14.4f %16.4f%n",
                    v.rank(),
                    v.node().name(),
                    v.node().estimate(),
                    signed.getOrDefault(v.node().name(), Double.NaN),
                    v.effect());
        }
        AttributionEvent.Verified largest = verified.stream()
                .max(Comparator.comparingDouble(v -> Math.abs(v.effect())))
                .orElseThrow();
        if (largest.rank() != 1) {
            w.printf(
                    "The largest true effect is %s's (%.2f), which AtP* ranked %d: this is what verification is for.%n",
                    largest.node().name(), largest.effect(), largest.rank());
        }
        w.println();
    }
}
