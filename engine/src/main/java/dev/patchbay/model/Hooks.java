package dev.patchbay.model;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What one forward pass should do at its hook sites: which activations to keep (cache), which to overwrite
 * (patch, per batch row), where to capture the gradient of the metric, and through which layers' residual
 * writes no gradient may flow (GradDrop), and which position of each row to unembed when only those are
 * read. Immutable once built; {@link #NONE} is a plain forward.
 */
public final class Hooks {
    public static final Hooks NONE = builder().build();

    private final Set<String> cached;
    private final boolean cacheAll;
    private final Map<String, List<Patch>> patches;
    private final Set<String> gradients;
    private final BitSet stopGradientLayers;
    private final int[] logitPositions;
    private final String stopAfter;
    private final EdgeAblation ablation;
    private final Map<String, List<Intervention>> interventions;
    private final int attentionChunkRows;
    private final boolean attentionGradientInChunks;

    private Hooks(Builder b) {
        this.attentionChunkRows = b.attentionChunkRows;
        this.attentionGradientInChunks = b.attentionGradientInChunks;
        this.cached = Set.copyOf(b.cached);
        this.cacheAll = b.cacheAll;
        Map<String, List<Patch>> copy = new HashMap<>();
        b.patches.forEach((site, list) -> copy.put(site, List.copyOf(list)));
        this.patches = Map.copyOf(copy);
        this.gradients = Set.copyOf(b.gradients);
        this.stopGradientLayers = (BitSet) b.stopGradientLayers.clone();
        this.logitPositions = b.logitPositions == null ? null : b.logitPositions.clone();
        this.stopAfter = b.stopAfter;
        this.ablation = b.ablation;
        Map<String, List<Intervention>> changes = new HashMap<>();
        b.interventions.forEach((site, list) -> changes.put(site, List.copyOf(list)));
        this.interventions = Map.copyOf(changes);
    }

    public static Builder builder() {
        return new Builder();
    }

    public boolean caches(String site) {
        return cacheAll || cached.contains(site);
    }

    public List<Patch> patchesAt(String site) {
        return patches.getOrDefault(site, List.of());
    }

    public List<Intervention> interventionsAt(String site) {
        return interventions.getOrDefault(site, List.of());
    }

    public boolean capturesGradient(String site) {
        return gradients.contains(site);
    }

    public boolean stopsGradientThrough(int layer) {
        return stopGradientLayers.get(layer);
    }

    /** The one position per row to unembed (logits [B, 1, V]), or null for every position. */
    int[] logitPositions() {
        return logitPositions == null ? null : logitPositions.clone();
    }

    int highestStoppedLayer() {
        return stopGradientLayers.length() - 1;
    }

    /** Whether this spec names the site itself (cacheAll does not): split inputs are computed only then. */
    boolean names(String site) {
        return cached.contains(site)
                || patches.containsKey(site)
                || gradients.contains(site)
                || interventions.containsKey(site);
    }

    /** The edges this forward ablates, or null. */
    EdgeAblation ablation() {
        return ablation;
    }

    /** The site after which the forward ends, or null to run to the logits. */
    String stopAfter() {
        return stopAfter;
    }

    boolean touches(String site) {
        return caches(site) || patches.containsKey(site) || gradients.contains(site) || interventions.containsKey(site);
    }

    /**
     * Whether a hook reads, changes or stops at layer {@code layer}'s attention scores or pattern, which must then be
     * made whole rather than a chunk of query rows at a time.
     */
    boolean touchesAttentionMaps(int layer) {
        if (cacheAll) {
            return true;
        }
        String scores = HookSites.attn(layer, "attn_scores");
        String pattern = HookSites.attn(layer, "pattern");
        return names(scores) || names(pattern) || scores.equals(stopAfter) || pattern.equals(stopAfter);
    }

    /** Query rows per chunk of attention this forward asks for; 0 to size them by the working set. */
    int attentionChunkRows() {
        return attentionChunkRows;
    }

    /** Whether attention under a gradient is made, and differentiated, a chunk of query rows at a time. */
    boolean attentionGradientInChunks() {
        return attentionGradientInChunks;
    }

    /** Whether any hook reads or changes attention scores or patterns (or every site is cached). */
    boolean touchesAttentionMaps() {
        return cacheAll || namedSites().stream().anyMatch(s -> HookSites.layoutOf(s) == SiteLayout.ATTENTION_MAP);
    }

    /** Every site this spec names, so a forward can reject names that the model does not have. */
    Set<String> namedSites() {
        Set<String> all = new HashSet<>(cached);
        all.addAll(patches.keySet());
        all.addAll(gradients);
        all.addAll(interventions.keySet());
        if (stopAfter != null) {
            all.add(stopAfter);
        }
        return all;
    }

    public static final class Builder {
        private final Set<String> cached = new HashSet<>();
        private boolean cacheAll;
        private final Map<String, List<Patch>> patches = new HashMap<>();
        private final Set<String> gradients = new HashSet<>();
        private final BitSet stopGradientLayers = new BitSet();
        private int[] logitPositions;
        private String stopAfter;
        private EdgeAblation ablation;
        private final Map<String, List<Intervention>> interventions = new HashMap<>();
        private int attentionChunkRows;
        private boolean attentionGradientInChunks;

        public Builder cache(String... sites) {
            cached.addAll(List.of(sites));
            return this;
        }

        public Builder cache(Iterable<String> sites) {
            sites.forEach(cached::add);
            return this;
        }

        public Builder cacheAll() {
            cacheAll = true;
            return this;
        }

        public Builder patch(String site, Patch patch) {
            patches.computeIfAbsent(site, s -> new ArrayList<>()).add(patch);
            return this;
        }

        /** Captures d(sum of per-row metrics)/d(site), i.e. each row's own metric gradient. */
        public Builder gradient(String... sites) {
            gradients.addAll(List.of(sites));
            return this;
        }

        public Builder gradient(Iterable<String> sites) {
            sites.forEach(gradients::add);
            return this;
        }

        /**
         * Lets no gradient through layer {@code layer}'s write to the residual stream; the forward values are
         * unchanged, and the gradient still reaches earlier layers through the residual skip.
         */
        public Builder stopGradientThrough(int layer) {
            stopGradientLayers.set(layer);
            return this;
        }

        /**
         * Unembeds only position {@code positions[r]} of each row r: logits are [B, 1, V]. A metric reads one
         * position, and the unembedding is a third of a small model's forward; in a gradient pass the backward
         * through it shrinks the same way.
         */
        public Builder unembedOnly(int... positions) {
            logitPositions = positions.clone();
            return this;
        }

        /**
         * Ends the forward once {@code site} has been computed and hooked: what was cached until then comes back,
         * the logits are null. Reading one layer's queries and keys for many patched inputs needs no more.
         */
        public Builder stopAfter(String site) {
            stopAfter = site;
            return this;
        }

        /**
         * Computes attention {@code rows} query rows at a time where no hook needs a layer's maps whole and no
         * gradient is recorded (the outputs are the same to round-off; tests force small chunks with it). By default
         * chunks are sized so that one holds about {@link Attention#CHUNK_BYTES}.
         */
        public Builder attentionChunkRows(int rows) {
            if (rows < 0) {
                throw new IllegalArgumentException("attention chunk rows must be positive, or 0 for the default");
            }
            attentionChunkRows = rows;
            return this;
        }

        /**
         * Under a gradient too, makes attention a chunk of query rows at a time ({@link #attentionChunkRows}), and its
         * backward likewise ({@link AttentionBackwardInChunks}): no heads x T x T map is ever whole. No hook may then
         * name a layer's scores or pattern; the QK fix reads them from {@link ForwardResult#attentionInChunks}.
         */
        public Builder attentionGradientInChunks() {
            attentionGradientInChunks = true;
            return this;
        }

        /** Ablates edges as {@link EdgeAblation} says: the forward then computes every reader's private input. */
        public Builder ablate(EdgeAblation edges) {
            ablation = edges;
            return this;
        }

        /** Changes a row's activation at a site as the forward computes it; after any patch at the same site. */
        public Builder intervene(Intervention change) {
            interventions.computeIfAbsent(change.site(), s -> new ArrayList<>()).add(change);
            return this;
        }

        public Hooks build() {
            return new Hooks(this);
        }
    }
}
