package dev.patchbay.server.mapping;

import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.Metric;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.nodes.NodeSet;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.proto.v1.AttributeRequest;
import dev.patchbay.proto.v1.MetricKind;
import dev.patchbay.proto.v1.Prompt;
import dev.patchbay.proto.v1.Token;
import dev.patchbay.server.config.ServerLimits;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The fields every request shares, turned into engine values or refused with a message naming the field: the model
 * by name, prompts (text through the model's tokenizer, or ids), prompt pairs with their metric, single tokens, node
 * sets. What each use-case checks beyond these is its operation's ({@code dev.patchbay.operations}).
 */
public final class Inputs {
    private final Map<String, ServedModel> models;
    private final ServerLimits limits;

    public Inputs(Map<String, ServedModel> models, ServerLimits limits) {
        this.models = Map.copyOf(models);
        this.limits = limits;
    }

    /** An engine refusal as the status a call answers with. */
    public static RequestException refused(InvalidRequest e) {
        return e.kind() == InvalidRequest.Kind.TOO_LARGE
                ? RequestException.tooLarge(e.getMessage())
                : RequestException.invalid(e.getMessage());
    }

    /** The text, refused before any tokenizing if it is longer than the server's limit. */
    public String text(String text, String field) throws RequestException {
        if (text.length() > limits.maxTextChars()) {
            throw RequestException.tooLarge(field + ": " + text.length() + " characters exceed the server's limit of "
                    + limits.maxTextChars() + " (checked before tokenizing)");
        }
        return text;
    }

    public ServedModel model(String name) throws RequestException {
        ServedModel model = models.get(name);
        if (model == null) {
            throw new RequestException(
                    Status.Code.NOT_FOUND,
                    "model: no model named '" + name + "' is loaded; loaded are " + models.keySet());
        }
        return model;
    }

    public List<PromptPair> pairs(
            ServedModel model, List<dev.patchbay.proto.v1.PromptPair> in, MetricKind kind, boolean allowUnknown)
            throws RequestException {
        if (in.isEmpty()) {
            throw RequestException.invalid("pairs: at least one prompt pair is needed");
        }
        if (in.size() > limits.maxPairs()) {
            throw RequestException.tooLarge(
                    "pairs: " + in.size() + " pairs exceed the server's limit of " + limits.maxPairs());
        }
        Metric.Kind metricKind = switch (kind) {
            case LOGIT_DIFF, METRIC_KIND_UNSPECIFIED -> Metric.Kind.LOGIT_DIFF;
            case LOG_PROB -> Metric.Kind.LOG_PROB;
            case PROB -> Metric.Kind.PROB;
            case KL_DIVERGENCE -> Metric.Kind.KL_DIVERGENCE;
            default -> throw RequestException.invalid("metric: unknown value " + kind);
        };
        List<PromptPair> pairs = new ArrayList<>();
        for (int i = 0; i < in.size(); i++) {
            var p = in.get(i);
            String at = "pairs[" + i + "]";
            int[] clean = prompt(model, p.getClean(), at + ".clean", allowUnknown);
            int[] noise = prompt(model, p.getNoise(), at + ".noise", allowUnknown);
            if (clean.length != noise.length) {
                throw RequestException.invalid(at
                        + ": clean and noise prompts must have the same token length, but clean"
                        + " has " + clean.length + " tokens " + spelled(model, clean) + " and noise has " + noise.length
                        + " " + spelled(model, noise));
            }
            int[] answers = tokens(model, p.getAnswersList(), at + ".answers", allowUnknown);
            int[] wrongs = tokens(model, p.getWrongsList(), at + ".wrongs", allowUnknown);
            if (metricKind != Metric.Kind.KL_DIVERGENCE && answers.length == 0) {
                throw RequestException.invalid(
                        at + ".answers: the " + metricKind.id() + " metric needs at least one answer token");
            }
            if (metricKind == Metric.Kind.LOGIT_DIFF && wrongs.length == 0) {
                throw RequestException.invalid(
                        at + ".wrongs: the logit_diff metric needs at least one wrong-answer token");
            }
            int position = p.hasPosition() ? p.getPosition() : -1;
            if (p.hasPosition() && (position < 0 || position >= clean.length)) {
                throw RequestException.invalid(
                        at + ".position: " + position + " is outside the prompt of " + clean.length + " tokens");
            }
            pairs.add(new PromptPair(clean, noise, new Metric(metricKind, answers, wrongs), position));
        }
        return pairs;
    }

    public int[] prompt(ServedModel model, Prompt prompt, String field, boolean allowUnknown) throws RequestException {
        int[] ids;
        switch (prompt.getInputCase()) {
            case TEXT -> {
                String text = text(prompt.getText(), field + ".text");
                try {
                    TextTokenizer tokenizer = tokenizer(model, field);
                    ids = (allowUnknown ? tokenizer.encode(text) : tokenizer.encodeKnown(text)).ids();
                } catch (IllegalArgumentException e) {
                    throw RequestException.invalid(field + ".text: " + e.getMessage()
                            + " (set allow_unknown_tokens to read it as the unknown token)");
                }
            }
            case IDS -> {
                ids = prompt.getIds().getIdsList().stream()
                        .mapToInt(Integer::intValue)
                        .toArray();
                int vocab = model.config().vocabSize();
                for (int t = 0; t < ids.length; t++) {
                    if (ids[t] < 0 || ids[t] >= vocab) {
                        throw RequestException.invalid(field + ".ids[" + t + "]: token id " + ids[t]
                                + " is outside the vocabulary [0, " + vocab + ")");
                    }
                }
            }
            default -> throw RequestException.invalid(field + ": give text or ids");
        }
        if (ids.length == 0) {
            throw RequestException.invalid(field + ": the prompt has no tokens");
        }
        if (ids.length > limits.maxTokens()) {
            throw RequestException.tooLarge(
                    field + ": " + ids.length + " tokens exceed the server's limit of " + limits.maxTokens());
        }
        // Rotary models can compute past max_position_embeddings, but not as they were trained: refused too.
        int positions = model.config().maxPositions();
        if (ids.length > positions) {
            throw RequestException.invalid(
                    field + ": " + ids.length + " tokens exceed the model's " + positions + " positions");
        }
        return ids;
    }

    public int[] tokens(ServedModel model, List<Token> in, String field, boolean allowUnknown) throws RequestException {
        int[] ids = new int[in.size()];
        for (int i = 0; i < ids.length; i++) {
            Token t = in.get(i);
            String at = field + "[" + i + "]";
            switch (t.getTokenCase()) {
                case ID -> {
                    if (t.getId() < 0 || t.getId() >= model.config().vocabSize()) {
                        throw RequestException.invalid(
                                at + ": token id " + t.getId() + " is outside the vocabulary [0, "
                                        + model.config().vocabSize() + ")");
                    }
                    ids[i] = t.getId();
                }
                case TEXT -> {
                    try {
                        ids[i] = tokenizer(model, at).singleToken(text(t.getText(), at + ".text"), allowUnknown);
                    } catch (IllegalArgumentException e) {
                        throw RequestException.invalid(at + ": " + e.getMessage());
                    }
                }
                default -> throw RequestException.invalid(at + ": give text or id");
            }
        }
        return ids;
    }

    public static NodeSet nodes(AttributeRequest r, ModelConfig config, List<PromptPair> pairs)
            throws RequestException {
        var in = r.getNodes();
        if (in.getKindsCount() == 0) {
            throw RequestException.invalid("nodes.kinds: the node set is empty; choose at least one node kind");
        }
        Set<NodeKind> kinds = EnumSet.noneOf(NodeKind.class);
        for (int i = 0; i < in.getKindsCount(); i++) {
            kinds.add(kind(in.getKinds(i), "nodes.kinds[" + i + "]"));
        }
        for (int l : in.getLayersList()) {
            if (l < 0 || l >= config.nLayers()) {
                throw RequestException.invalid(
                        "nodes.layers: layer " + l + " is outside [0, " + config.nLayers() + ")");
            }
        }
        int length = pairs.get(0).length();
        for (int p : in.getPositionsList()) {
            if (p < 0 || p >= length) {
                throw RequestException.invalid(
                        "nodes.positions: position " + p + " is outside the prompt of " + length + " tokens");
            }
        }
        if (in.getPositionsCount() > 0 && !in.getPerPosition()) {
            throw RequestException.invalid("nodes.positions: positions can only be chosen with per_position");
        }
        if (in.getPerPosition()) {
            for (int i = 1; i < pairs.size(); i++) {
                if (pairs.get(i).length() != length) {
                    throw RequestException.invalid("pairs[" + i
                            + "]: per-position nodes need every pair to have the same" + " length (" + length
                            + " tokens), this one has " + pairs.get(i).length());
                }
            }
        }
        return new NodeSet(
                kinds,
                in.getLayersCount() == 0
                        ? null
                        : in.getLayersList().stream().mapToInt(i -> i).toArray(),
                in.getPerPosition(),
                in.getPositionsCount() == 0
                        ? null
                        : in.getPositionsList().stream().mapToInt(i -> i).toArray());
    }

    public static NodeKind kind(dev.patchbay.proto.v1.NodeKind kind, String field) throws RequestException {
        return switch (kind) {
            case QUERY -> NodeKind.QUERY;
            case KEY -> NodeKind.KEY;
            case VALUE -> NodeKind.VALUE;
            case HEAD_OUTPUT -> NodeKind.HEAD_OUTPUT;
            case NEURON -> NodeKind.NEURON;
            case ATTN_OUT -> NodeKind.ATTN_OUT;
            case MLP_OUT -> NodeKind.MLP_OUT;
            case RESIDUAL -> NodeKind.RESIDUAL;
            default -> throw RequestException.invalid(field + ": unknown node kind " + kind);
        };
    }

    public static TextTokenizer tokenizer(ServedModel model, String field) throws RequestException {
        if (model.loaded().tokenizer() == null) {
            throw RequestException.invalid(
                    field + ": model '" + model.loaded().name() + "' has no tokenizer; give token ids");
        }
        return model.loaded().tokenizer();
    }

    /**
     * The metric as events report it, its tokens spelled as text where the model has a tokenizer
     * ({@code logit_diff(answers=[" Mary"], wrongs=[" John"])}), else as ids; of the first pair for a distribution.
     */
    public static String metricText(ServedModel model, List<PromptPair> pairs) {
        TextTokenizer tokenizer = model.loaded().tokenizer();
        Metric metric = pairs.get(0).metric();
        return tokenizer == null ? metric.describe() : metric.describe(id -> '"' + tokenizer.decode(id) + '"');
    }

    private static String spelled(ServedModel model, int[] ids) {
        if (model.loaded().tokenizer() == null) {
            return Arrays.toString(ids);
        }
        List<String> out = new ArrayList<>();
        for (int id : ids) {
            out.add(model.loaded().tokenizer().decode(id));
        }
        return out.toString();
    }
}
