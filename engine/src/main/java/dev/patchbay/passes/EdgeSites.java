package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Precision;
import dev.patchbay.model.Scoped;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.Edge.ReaderKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Where edges live in a forward pass (docs/spec/atp-spec.md section 9): a writer's change is the difference of its
 * output between the noise and clean runs, as it reaches the residual stream; a reader's input is its private copy
 * of the stream (a split input for a head's query, key or value; hook_mlp_in; the final stream for the logits).
 */
public final class EdgeSites {
    private EdgeSites() {}

    /** The sites both runs keep to form every writer's change: the stream entering layer 0, each z and MLP output. */
    public static List<String> writerSites(ModelConfig config) {
        List<String> sites = new ArrayList<>();
        sites.add(HookSites.residPre(0));
        for (int l = 0; l < config.nLayers(); l++) {
            sites.add(HookSites.attn(l, "z"));
            sites.add(HookSites.mlpOut(l));
        }
        return sites;
    }

    /** The site holding a reader's private input: where an edge's change is added, and its gradient read. */
    public static String readerSite(ReaderKind kind, int layer, ModelConfig config) {
        return switch (kind) {
            case QUERY -> HookSites.headInput(layer, "q");
            case KEY -> HookSites.headInput(layer, "k");
            case VALUE -> HookSites.headInput(layer, "v");
            case MLP -> HookSites.mlpIn(layer);
            case LOGITS -> HookSites.residPost(config.nLayers() - 1);
        };
    }

    /** The site of the clean run whose value a reader's input starts from. */
    public static String cleanInputSite(ReaderKind kind, int layer, ModelConfig config) {
        return switch (kind) {
            case QUERY, KEY, VALUE -> HookSites.residPre(layer);
            case MLP -> config.parallelResidual() ? HookSites.residPre(layer) : HookSites.residMid(layer);
            case LOGITS -> HookSites.residPost(config.nLayers() - 1);
        };
    }

    /** The layer a patched run resumes at to reach the reader. */
    public static int resumeLayer(Edge.Reader reader, ModelConfig config) {
        return reader.kind() == ReaderKind.LOGITS ? config.nLayers() - 1 : reader.layer();
    }

    /**
     * Every writer's change [B, T, writers, d_model], in {@link dev.patchbay.nodes.EdgeGraph}'s order, from the two
     * runs' {@link #writerSites}: the embeddings' (noise - clean), each head's change of its layer's write with the
     * other heads clean ({@link HookedTransformer#headWriteChanges}), each MLP's (noise - clean). Owned by
     * {@code scope}.
     */
    public static NDArray writerChanges(
            HookedTransformer model, NDManager scope, Map<String, NDArray> clean, Map<String, NDArray> noise) {
        return writerChanges(model, scope, clean, noise, false);
    }

    /**
     * Every writer's change as {@link #writerChanges(HookedTransformer, NDManager, Map, Map)} has them, or with
     * {@code asRows} laid out as rows [B, writers, T * d_model] for products over all positions, in float32 for half
     * models (the products' precision). Written a layer's writers at a time into the one array, so that besides it
     * only one layer's head writes are alive: made whole and then laid out, the changes of Llama 3.2 1B's shape (4
     * of its layers) held about five copies at their peak, 5.8 MB a token.
     */
    public static NDArray writerChanges(
            HookedTransformer model,
            NDManager scope,
            Map<String, NDArray> clean,
            Map<String, NDArray> noise,
            boolean asRows) {
        ModelConfig config = model.config();
        NDArray input = clean.get(HookSites.residPre(0));
        Shape s = input.getShape(); // [B, T, d_model]
        long batch = s.get(0);
        long length = s.get(1);
        long width = s.get(2);
        int writers = 1 + config.nLayers() * (config.nHeads() + 1);
        DataType type = asRows && Precision.isHalf(input.getDataType()) ? DataType.FLOAT32 : input.getDataType();
        NDArray out = asRows
                ? scope.zeros(new Shape(batch, writers, length * width), type)
                : scope.zeros(new Shape(batch, length, writers, width), type);
        int w = 0;
        try (NDManager part = scope.newSubManager()) {
            put(out, w, change(part, clean, noise, HookSites.residPre(0)).expandDims(2), asRows);
        }
        w += 1;
        for (int l = 0; l < config.nLayers(); l++) {
            String z = HookSites.attn(l, "z");
            try (NDManager part = scope.newSubManager()) {
                put(out, w, model.headWriteChanges(l, Scoped.view(part, clean.get(z)), noise.get(z)), asRows);
            }
            w += config.nHeads();
            try (NDManager part = scope.newSubManager()) {
                put(out, w, change(part, clean, noise, HookSites.mlpOut(l)).expandDims(2), asRows);
            }
            w += 1;
        }
        return out;
    }

    /** Writes the changes [B, T, n, d_model] of writers [w, w + n) into {@code out}, in its layout and type. */
    private static void put(NDArray out, int w, NDArray changes, boolean asRows) {
        Shape s = changes.getShape();
        long n = s.get(2);
        NDArray value = changes.toType(out.getDataType(), false);
        if (asRows) {
            out.set(
                    new NDIndex(":, {}:{}", w, w + n),
                    value.transpose(0, 2, 1, 3).reshape(s.get(0), n, s.get(1) * s.get(3)));
        } else {
            out.set(new NDIndex(":, :, {}:{}", w, w + n), value);
        }
    }

    private static NDArray change(NDManager scope, Map<String, NDArray> clean, Map<String, NDArray> noise, String s) {
        return Scoped.view(scope, noise.get(s)).sub(clean.get(s));
    }
}
