package dev.patchbay.model;

import java.util.Collections;
import java.util.List;

/**
 * The shape and the choices of one transformer, independent of how its checkpoint spells them.
 *
 * @param rotaryDim dimensions of each head that rotary embedding rotates (0 for learned positions; less
 *     than {@code dHead} for partial rotary, as in Pythia)
 * @param activation the MLP nonlinearity, as Hugging Face names it: gelu_new (tanh), gelu (erf), silu, relu,
 *     linear (identity)
 * @param attnScale multiplier of q.k before the softmax (usually 1/sqrt(dHead))
 * @param scaleAttnByInverseLayer GPT-2's option to divide layer l's scores further by l+1
 * @param normalization LayerNorm (GPT-2, NeoX), RMSNorm (Llama), or none for constructed toy models
 * @param embedScale multiplier of the token embeddings (Gemma: sqrt(dModel)), applied before hook_embed; the
 *     unembedding is not scaled
 * @param attnSoftcap c of Gemma 2's attention soft-capping, scores = c tanh(scale q.k / c), before the mask; 0
 *     for none
 * @param logitSoftcap c of Gemma 2's final logit soft-capping, logits = c tanh(logits / c); 0 for none
 * @param layers each layer's sliding window and rotary frequencies
 * @param endOfText the tokens that end a text (the checkpoint's {@code eos_token_id}, one or several; none when it
 *     names none): generation stops at them unless told to go on, as transformers' {@code generate} does
 */
public record ModelConfig(
        Architecture architecture,
        int nLayers,
        int nHeads,
        int nKvHeads,
        int dModel,
        int dHead,
        int dMlp,
        int vocabSize,
        int maxPositions,
        double normEps,
        String activation,
        int rotaryDim,
        double ropeTheta,
        boolean parallelResidual,
        boolean tiedEmbeddings,
        boolean attentionBias,
        boolean mlpBias,
        double attnScale,
        boolean scaleAttnByInverseLayer,
        Normalization normalization,
        double embedScale,
        double attnSoftcap,
        double logitSoftcap,
        List<LayerAttention> layers,
        List<Integer> endOfText) {

    /** How a block normalizes the residual stream it reads. */
    public enum Normalization {
        LAYER_NORM,
        RMS_NORM,
        /** none at all: for constructed toy models (TransformerLens's normalization_type=None), not checkpoints */
        NONE
    }

    public ModelConfig {
        if (nLayers <= 0 || nHeads <= 0 || dModel <= 0 || dHead <= 0 || dMlp <= 0 || vocabSize <= 0) {
            throw new IllegalArgumentException("sizes must be positive: " + this);
        }
        if (nKvHeads <= 0 || nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException(
                    "heads (" + nHeads + ") must be a multiple of key/value heads (" + nKvHeads + ")");
        }
        if (rotaryDim % 2 != 0 || rotaryDim > dHead) {
            throw new IllegalArgumentException(
                    "rotary dimensions (" + rotaryDim + ") must be even and at most d_head (" + dHead + ")");
        }
        if (!(embedScale > 0) || attnSoftcap < 0 || logitSoftcap < 0) {
            throw new IllegalArgumentException(
                    "the embedding scale must be positive and soft-caps 0 (none) or positive: " + embedScale + ", "
                            + attnSoftcap + ", " + logitSoftcap);
        }
        layers = List.copyOf(layers);
        endOfText = List.copyOf(endOfText);
        for (int id : endOfText) {
            if (id < 0 || id >= vocabSize) {
                throw new IllegalArgumentException(
                        "end-of-text token " + id + " is outside the vocabulary of " + vocabSize + " tokens");
            }
        }
        if (layers.size() != nLayers) {
            throw new IllegalArgumentException(
                    "attention settings for " + layers.size() + " layers, but the model has " + nLayers);
        }
    }

    /** A builder for {@code architecture}'s config: every field by name (24 positional components read badly). */
    public static Builder builder(Architecture architecture) {
        return new Builder(architecture);
    }

    /** The same model with another normalization (toy models for tests are GPT-2 shaped without any). */
    public ModelConfig withNormalization(Normalization n) {
        return toBuilder().normalization(n).build();
    }

    /** The same model ending its texts at {@code tokens}. */
    public ModelConfig withEndOfText(List<Integer> tokens) {
        return toBuilder().endOfText(tokens).build();
    }

    /** A builder holding this config's every field. */
    public Builder toBuilder() {
        Builder b = new Builder(architecture);
        b.nLayers = nLayers;
        b.nHeads = nHeads;
        b.nKvHeads = nKvHeads;
        b.dModel = dModel;
        b.dHead = dHead;
        b.dMlp = dMlp;
        b.vocabSize = vocabSize;
        b.maxPositions = maxPositions;
        b.normEps = normEps;
        b.activation = activation;
        b.rotaryDim = rotaryDim;
        b.ropeTheta = ropeTheta;
        b.parallelResidual = parallelResidual;
        b.tiedEmbeddings = tiedEmbeddings;
        b.attentionBias = attentionBias;
        b.mlpBias = mlpBias;
        b.attnScale = attnScale;
        b.scaleAttnByInverseLayer = scaleAttnByInverseLayer;
        b.normalization = normalization;
        b.embedScale = embedScale;
        b.attnSoftcap = attnSoftcap;
        b.logitSoftcap = logitSoftcap;
        b.layers = layers;
        b.endOfText = endOfText;
        return b;
    }

    /**
     * Builds a {@link ModelConfig} by name. Unset: key/value heads as many as heads, no rotary, no biases, no
     * parallel residual, untied embeddings, no end-of-text token, an embedding scale of 1, no soft-caps, and every layer attending to every
     * earlier key with rotary at {@code ropeTheta} (10000 unless set); the sizes, the activation, the attention scale
     * and the normalization must be set.
     */
    public static final class Builder {
        private final Architecture architecture;
        private int nLayers;
        private int nHeads;
        private int nKvHeads;
        private int dModel;
        private int dHead;
        private int dMlp;
        private int vocabSize;
        private int maxPositions;
        private double normEps = 1e-5;
        private String activation;
        private int rotaryDim;
        private double ropeTheta = 10000;
        private boolean parallelResidual;
        private boolean tiedEmbeddings;
        private boolean attentionBias;
        private boolean mlpBias;
        private double attnScale = Double.NaN;
        private boolean scaleAttnByInverseLayer;
        private Normalization normalization;
        private double embedScale = 1;
        private double attnSoftcap;
        private double logitSoftcap;
        private List<LayerAttention> layers;
        private List<Integer> endOfText = List.of();

        private Builder(Architecture architecture) {
            this.architecture = architecture;
        }

        public Builder nLayers(int v) {
            nLayers = v;
            return this;
        }

        public Builder nHeads(int v) {
            nHeads = v;
            return this;
        }

        public Builder nKvHeads(int v) {
            nKvHeads = v;
            return this;
        }

        public Builder dModel(int v) {
            dModel = v;
            return this;
        }

        public Builder dHead(int v) {
            dHead = v;
            return this;
        }

        public Builder dMlp(int v) {
            dMlp = v;
            return this;
        }

        public Builder vocabSize(int v) {
            vocabSize = v;
            return this;
        }

        public Builder maxPositions(int v) {
            maxPositions = v;
            return this;
        }

        public Builder normEps(double v) {
            normEps = v;
            return this;
        }

        public Builder activation(String v) {
            activation = v;
            return this;
        }

        public Builder rotaryDim(int v) {
            rotaryDim = v;
            return this;
        }

        public Builder ropeTheta(double v) {
            ropeTheta = v;
            return this;
        }

        public Builder parallelResidual(boolean v) {
            parallelResidual = v;
            return this;
        }

        public Builder tiedEmbeddings(boolean v) {
            tiedEmbeddings = v;
            return this;
        }

        public Builder attentionBias(boolean v) {
            attentionBias = v;
            return this;
        }

        public Builder mlpBias(boolean v) {
            mlpBias = v;
            return this;
        }

        public Builder attnScale(double v) {
            attnScale = v;
            return this;
        }

        public Builder scaleAttnByInverseLayer(boolean v) {
            scaleAttnByInverseLayer = v;
            return this;
        }

        public Builder normalization(Normalization v) {
            normalization = v;
            return this;
        }

        public Builder embedScale(double v) {
            embedScale = v;
            return this;
        }

        public Builder attnSoftcap(double v) {
            attnSoftcap = v;
            return this;
        }

        public Builder logitSoftcap(double v) {
            logitSoftcap = v;
            return this;
        }

        /** Each layer's sliding window and rotary frequencies. */
        public Builder layers(List<LayerAttention> v) {
            layers = v;
            return this;
        }

        /** The tokens that end a text; none unless set. */
        public Builder endOfText(List<Integer> v) {
            endOfText = v;
            return this;
        }

        public ModelConfig build() {
            if (activation == null || normalization == null || Double.isNaN(attnScale)) {
                throw new IllegalStateException("a model config needs its activation, normalization and attention"
                        + " scale set: " + activation + ", " + normalization + ", " + attnScale);
            }
            return new ModelConfig(
                    architecture,
                    nLayers,
                    nHeads,
                    nKvHeads == 0 ? nHeads : nKvHeads,
                    dModel,
                    dHead,
                    dMlp,
                    vocabSize,
                    maxPositions,
                    normEps,
                    activation,
                    rotaryDim,
                    ropeTheta,
                    parallelResidual,
                    tiedEmbeddings,
                    attentionBias,
                    mlpBias,
                    attnScale,
                    scaleAttnByInverseLayer,
                    normalization,
                    embedScale,
                    attnSoftcap,
                    logitSoftcap,
                    layers != null
                            ? layers
                            : Collections.nCopies(
                                    Math.max(nLayers, 0), new LayerAttention(0, RopeParameters.unscaled(ropeTheta))),
                    endOfText);
        }
    }

    /** The multiplier of q.k in layer {@code layer}'s attention scores. */
    public double attnScale(int layer) {
        return attnScale / (scaleAttnByInverseLayer ? layer + 1 : 1);
    }

    /**
     * Whether positions are a learned table (GPT-2), so a prompt may not be longer than maxPositions; rotary
     * models compute any position, and maxPositions is only what they were trained on.
     */
    public boolean learnedPositions() {
        return architecture.learnedPositions();
    }

    /** Whether the MLP is gated (SwiGLU): hook_pre is the gate and hook_pre_linear the linear branch. */
    public boolean gatedMlp() {
        return architecture.gatedMlp();
    }

    /** Query heads that share one key/value head under grouped-query attention. */
    public int groupSize() {
        return nHeads / nKvHeads;
    }
}
