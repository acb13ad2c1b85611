package dev.patchbay.client;

import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.Method;
import dev.patchbay.proto.v1.MetricKind;
import dev.patchbay.proto.v1.NodeSet;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.PromptPair;
import dev.patchbay.proto.v1.Token;

/**
 * Builds an Attribute request:
 * <pre>{@code
 * AttributionRequest.forModel("patchbay-tiny")
 *     .pair(clean, noise, " Mary", " John")
 *     .method(Method.ATP_STAR).nodes(Nodes.heads()).verifyTopK(10).build();
 * }</pre>
 */
public final class AttributionRequest {
    /** The method is left unset unless chosen: the server's default (AtP*), written once, in its operation. */
    /** Effects come as packed bytes, read in one copy (PatchbayClient reads either form). */
    private final AttributeRequest.Builder proto =
            AttributeRequest.newBuilder().setNodes(Nodes.heads()).setPackedValues(true);

    private AttributionRequest(String model) {
        proto.setModel(model);
    }

    public static AttributionRequest forModel(String model) {
        return new AttributionRequest(model);
    }

    /** A clean/noise pair of texts with its answer and wrong-answer tokens (each must be one token). */
    public AttributionRequest pair(String clean, String noise, String answer, String wrong) {
        PromptPair.Builder p = PromptPair.newBuilder()
                .setClean(Prompt.newBuilder().setText(clean))
                .setNoise(Prompt.newBuilder().setText(noise))
                .addAnswers(Token.newBuilder().setText(answer));
        if (wrong != null) {
            p.addWrongs(Token.newBuilder().setText(wrong));
        }
        proto.addPairs(p);
        return this;
    }

    /** A pair given as a message, for token ids or answer sets. */
    public AttributionRequest pair(PromptPair pair) {
        proto.addPairs(pair);
        return this;
    }

    public AttributionRequest method(Method method) {
        proto.setMethod(method);
        return this;
    }

    public AttributionRequest metric(MetricKind metric) {
        proto.setMetric(metric);
        return this;
    }

    public AttributionRequest nodes(NodeSet nodes) {
        proto.setNodes(nodes);
        return this;
    }

    public AttributionRequest verifyTopK(int k) {
        proto.setVerifyTopK(k);
        return this;
    }

    /**
     * Reads words the model's vocabulary lacks as its unknown token; without this such a word is refused
     * (INVALID_ARGUMENT naming it), since the model would answer another question.
     */
    public AttributionRequest allowUnknownTokens() {
        proto.setAllowUnknownTokens(true);
        return this;
    }

    public AttributeRequest build() {
        return proto.build();
    }
}
