package dev.patchbay.cli;

import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.diagnostic.Verification;
import dev.patchbay.nodes.Node;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code attribute --out FILE}: the command's JSON (.json), one row per node (.csv: node, layer, estimate,
 * verified_effect, largest |estimate| first; verified_effect empty where not verified), or the interactive report
 * (.html, {@link HtmlReport}).
 */
final class ResultFiles {
    private ResultFiles() {}

    /** Refuses a file name this writer has no format for, before any work is done. */
    static void checkName(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (!name.endsWith(".json") && !name.endsWith(".csv") && !name.endsWith(".html")) {
            throw new IllegalArgumentException("--out: " + file + " must end in .json, .csv or .html");
        }
    }

    static void write(Path file, AttributionResult result, List<Verification.Verified> verified, String json)
            throws IOException {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".json")) {
            Files.writeString(file, json + System.lineSeparator());
        } else if (name.endsWith(".csv")) {
            Map<Node, Double> effects = new HashMap<>();
            verified.forEach(v -> effects.put(v.node(), v.effect()));
            try (BufferedWriter w = Files.newBufferedWriter(file)) {
                w.write("node,layer,estimate,verified_effect");
                w.newLine();
                for (AttributionResult.Scored s : result.ranked()) {
                    Double effect = effects.get(s.node());
                    w.write(s.node().name() + "," + s.node().layer() + "," + s.estimate() + ","
                            + (effect == null ? "" : effect.toString()));
                    w.newLine();
                }
            }
        } else {
            checkName(file);
        }
    }
}
