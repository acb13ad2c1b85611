package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * One forward pass's state for {@link EdgeAblation}: every source's change so far (its value less its writer's
 * output in this run), recorded in writer order as the blocks produce their outputs, and each reader's input with its
 * ablated edges' changes added. Readers are numbered per layer as query heads, key heads, value heads and the MLP,
 * the logits last; writers as the embeddings, then per layer its heads and its MLP.
 */
final class AblatedEdges {
    private final EdgeAblation ablation;
    private final ModelConfig config;
    /** The pass's scope: the changes outlive the layer that recorded them. */
    private final NDManager pass;
    /** Per source so far, in writer order: its value less its writer's output in this run, [B, T * d_model]. */
    private final List<NDArray> changes = new ArrayList<>();
    /** Writers that have written so far. */
    private int writers;

    AblatedEdges(EdgeAblation ablation, ModelConfig config, NDManager pass) {
        this.ablation = ablation;
        this.config = config;
        this.pass = pass;
    }

    /** Records writers' outputs in this run, [B, T, d] or per head [B, T, H, d]. */
    void wrote(NDArray output) {
        Shape s = output.getShape();
        long rows = s.get(0);
        NDArray perWriter = s.dimension() == 3 ? output.expandDims(2) : output; // [B, T, n, d]
        int n = (int) perWriter.getShape().get(2);
        int first = writers;
        writers += n;
        int[] sourceWriters = ablation.sourceWriters();
        int from = changes.size();
        int to = from;
        while (to < sourceWriters.length && sourceWriters[to] < writers) {
            to++;
        }
        if (to == from) {
            return;
        }
        NDArray ablated = ablation.ablated().get(new NDIndex(":, {}:{}", from, to)); // [B, sources, T, d]
        NDArray outputs = perWriter.transpose(0, 2, 1, 3); // [B, n, T, d]
        if (to - from != n || sourceWriters[from] != first) {
            // Not one source per writer: each source's writer output, in source order.
            NDList taken = new NDList();
            for (int source = from; source < to; source++) {
                taken.add(outputs.get(new NDIndex(":, {}", sourceWriters[source] - first)));
            }
            outputs = NDArrays.stack(taken, 1);
        }
        NDArray change = Scoped.view(pass, ablated).sub(outputs);
        for (int source = 0; source < to - from; source++) {
            changes.add(change.get(new NDIndex(":, {}", source)).reshape(rows, -1));
        }
    }

    /**
     * A reader's input at {@code site} of {@code layer} with its ablated edges' changes added: the q/k/v split inputs
     * [B, T, H, d] and the MLP's [B, T, d]; any other site unchanged.
     */
    NDArray readerInput(NDManager scope, int layer, String site, NDArray x) {
        int first = readersBefore(layer);
        int heads = config.nHeads();
        int kv = config.nKvHeads();
        if (site.equals(HookSites.mlpIn(layer))) {
            return x.add(added(scope, first + heads + 2 * kv, 1, x.getShape()).squeeze(1));
        }
        int offset;
        if (site.equals(HookSites.headInput(layer, "q"))) {
            offset = first;
        } else if (site.equals(HookSites.headInput(layer, "k"))) {
            offset = first + heads;
        } else if (site.equals(HookSites.headInput(layer, "v"))) {
            offset = first + heads + kv;
        } else {
            return x;
        }
        Shape s = x.getShape(); // [B, T, n, d]
        Shape stream = new Shape(s.get(0), s.get(1), s.get(3));
        return x.add(added(scope, offset, (int) s.get(2), stream).transpose(0, 2, 1, 3));
    }

    /** The final stream [B, T, d] with the logits' ablated edges' changes added. */
    NDArray logitsInput(NDManager scope, NDArray resid) {
        return resid.add(added(scope, readersBefore(config.nLayers()), 1, resid.getShape())
                .squeeze(1));
    }

    /**
     * What ablated edges add to readers [from, from + count): [B, count, T, d], the sum over sources so far of
     * mask x (source value - its writer's output).
     */
    private NDArray added(NDManager scope, int from, int count, Shape stream) {
        if (changes.isEmpty()) {
            return scope.zeros(
                    new Shape(stream.get(0), count, stream.get(1), stream.get(2)),
                    ablation.ablated().getDataType());
        }
        int sources = changes.size();
        NDArray mask =
                Scoped.view(scope, ablation.mask()).get(new NDIndex(":, {}:{}, :{}", from, from + count, sources));
        NDArray stacked = NDArrays.stack(new NDList(changes), 1); // [B, sources, T * d]
        return mask.matMul(stacked).reshape(stream.get(0), count, stream.get(1), stream.get(2));
    }

    /** The first reader number of layer {@code l}'s query heads (the logits' for l = layers). */
    private int readersBefore(int l) {
        return l * (config.nHeads() + 2 * config.nKvHeads() + 1);
    }
}
