package dev.patchbay.model;

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
        Normalization normalization) {

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
                n);
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
        return architecture.family().learnedPositions();
    }

    /** Whether the MLP is gated (SwiGLU): hook_pre is the gate and hook_pre_linear the linear branch. */
    public boolean gatedMlp() {
        return architecture.family().gatedMlp();
    }

    /** Query heads that share one key/value head under grouped-query attention. */
    public int groupSize() {
        return nHeads / nKvHeads;
    }
}
