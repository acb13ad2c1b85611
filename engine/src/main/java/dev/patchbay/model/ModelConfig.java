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
        List<LayerAttention> layers) {

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
        if (layers.size() != nLayers) {
            throw new IllegalArgumentException(
                    "attention settings for " + layers.size() + " layers, but the model has " + nLayers);
        }
    }

    /**
     * A model whose layers all attend alike (every earlier key, rotary at {@code ropeTheta}), without embedding
     * scale or soft-capping: GPT-2, NeoX and Llama-style models, and the constructed ones of tests and benchmarks.
     */
    public ModelConfig(
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
            Normalization normalization) {
        this(
                architecture,
                nLayers,
                nHeads,
                nKvHeads,
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
                1,
                0,
                0,
                Collections.nCopies(Math.max(nLayers, 0), new LayerAttention(0, RopeParameters.unscaled(ropeTheta))));
    }

    /** The same model with another normalization (toy models for tests are GPT-2 shaped without any). */
    public ModelConfig withNormalization(Normalization n) {
        return new ModelConfig(
                architecture,
                nLayers,
                nHeads,
                nKvHeads,
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
                n,
                embedScale,
                attnSoftcap,
                logitSoftcap,
                layers);
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
