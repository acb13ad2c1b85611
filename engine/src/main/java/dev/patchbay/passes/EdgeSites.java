package dev.patchbay.passes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.patchbay.model.HookSites;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
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
        ModelConfig config = model.config();
        NDList parts = new NDList();
        parts.add(change(scope, clean, noise, HookSites.residPre(0)).expandDims(2));
        for (int l = 0; l < config.nLayers(); l++) {
            String z = HookSites.attn(l, "z");
            parts.add(model.headWriteChanges(l, Scoped.view(scope, clean.get(z)), noise.get(z)));
            parts.add(change(scope, clean, noise, HookSites.mlpOut(l)).expandDims(2));
        }
        return NDArrays.concat(parts, 2);
    }

    private static NDArray change(NDManager scope, Map<String, NDArray> clean, Map<String, NDArray> noise, String s) {
        return Scoped.view(scope, noise.get(s)).sub(clean.get(s));
    }
}
