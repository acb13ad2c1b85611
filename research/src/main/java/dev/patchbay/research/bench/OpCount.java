package dev.patchbay.research.bench;

import ai.djl.pytorch.jni.JniUtils;
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * How many libtorch ops a piece of work issues, from libtorch's own profiler (through DJL): on a GPU each op that
 * computes is a kernel the host must launch, so when the GPU is faster than the host, time follows this count.
 * {@code tools/torch_reference.py} counts its forward the same way (torch.profiler, the same rules), so the two
 * counts compare.
 *
 * <p>Only top-level ops count (not the ops an op calls inside itself), and of those, "computing" ones exclude
 * views, reshapes and allocations, which launch nothing, and conversions to the type a tensor already has.
 */
final class OpCount {
    /** Ops that only make views or empty tensors: no kernel. Shared with tools/torch_reference.py's VIEWS. */
    static final Set<String> VIEWS = Set.of(
            "aten::view",
            "aten::reshape",
            "aten::_reshape_alias",
            "aten::_unsafe_view",
            "aten::permute",
            "aten::transpose",
            "aten::t",
            "aten::expand",
            "aten::unsqueeze",
            "aten::squeeze",
            "aten::slice",
            "aten::select",
            "aten::as_strided",
            "aten::alias",
            "aten::split",
            "aten::flatten",
            "aten::detach",
            "aten::detach_",
            "aten::lift_fresh",
            "aten::dropout",
            "aten::resolve_conj",
            "aten::resolve_neg",
            "aten::contiguous",
            "aten::empty",
            "aten::empty_strided");

    /** Top-level ops, those that compute, and the computing ones by name. */
    record Counts(int ops, int computing, Map<String, Integer> byName) {}

    private OpCount() {}

    /** Runs {@code work} once under libtorch's profiler and counts its ops (single-threaded work only). */
    static Counts of(Runnable work) {
        try {
            Path trace = Files.createTempFile("patchbay-ops", ".json");
            try {
                JniUtils.startProfile(false, false, false);
                try {
                    work.run();
                } finally {
                    JniUtils.stopProfile(trace.toString());
                }
                return count(Files.readString(trace, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(trace);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The counts of a Chrome trace as libtorch's profiler writes it. */
    static Counts count(String chromeTrace) {
        JsonElement root = new Gson().fromJson(chromeTrace, JsonElement.class);
        JsonArray events = root.isJsonArray()
                ? root.getAsJsonArray()
                : root.getAsJsonObject().getAsJsonArray("traceEvents");
        record Event(String name, long thread, double start, double end) {}
        List<Event> ops = new ArrayList<>();
        for (JsonElement e : events) {
            JsonObject o = e.getAsJsonObject();
            String name = o.has("name") ? o.get("name").getAsString() : "";
            if (!"X".equals(o.has("ph") ? o.get("ph").getAsString() : "") || !name.startsWith("aten::")) {
                continue;
            }
            double start = o.get("ts").getAsDouble();
            ops.add(new Event(
                    name, o.get("tid").getAsLong(), start, start + o.get("dur").getAsDouble()));
        }
        ops.sort(Comparator.comparingLong(Event::thread)
                .thenComparingDouble(Event::start)
                .thenComparing(Comparator.comparingDouble(Event::end).reversed()));
        Map<Long, Event> enclosing = new HashMap<>();
        Map<String, Integer> byName = new TreeMap<>();
        int top = 0;
        int computing = 0;
        Event lastTop = null;
        boolean lastTopCopied = false;
        for (Event op : ops) {
            Event outer = enclosing.get(op.thread());
            if (outer != null && op.start() < outer.end()) {
                // Inside a top-level op: a conversion computes only if it copies.
                if (outer == lastTop
                        && outer.name().equals("aten::to")
                        && op.name().equals("aten::_to_copy")
                        && !lastTopCopied) {
                    lastTopCopied = true;
                    computing++;
                    byName.merge(outer.name(), 1, Integer::sum);
                }
                continue;
            }
            enclosing.put(op.thread(), op);
            top++;
            lastTop = op;
            lastTopCopied = false;
            if (!VIEWS.contains(op.name()) && !op.name().equals("aten::to")) {
                computing++;
                byName.merge(op.name(), 1, Integer::sum);
            }
        }
        return new Counts(top, computing, byName);
    }
}
