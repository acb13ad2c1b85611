package dev.patchbay.server.mapping;

import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.generation.Generation;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.Generate;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.operations.Summary;
import dev.patchbay.proto.v1.Continuation;
import dev.patchbay.proto.v1.GenerateEvent;
import dev.patchbay.proto.v1.GenerateRequest;
import dev.patchbay.proto.v1.GeneratedToken;
import dev.patchbay.proto.v1.TokenChoice;
import java.util.ArrayList;
import java.util.List;

/**
 * Generate: the request to {@link Generate} (its interventions through {@link InterventionMapper}), its events
 * back to the wire.
 */
public final class GenerateMapper {
    private GenerateMapper() {}

    public static Prepared<GenerateEvent> prepare(Inputs inputs, GenerateRequest r) throws RequestException {
        ServedModel model = inputs.model(r.getModel());
        try {
            // Before any prompt is tokenized.
            Generate.checkPromptCount(r.getPromptsCount(), model.serving());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < r.getPromptsCount(); i++) {
            prompts.add(inputs.prompt(model, r.getPrompts(i), "prompts[" + i + "]", r.getAllowUnknownTokens()));
        }
        int[] stop = inputs.tokens(model, r.getStopList(), "stop", r.getAllowUnknownTokens());
        int[] watch = inputs.tokens(model, r.getWatchList(), "watch", r.getAllowUnknownTokens());
        List<Generation.Steer> steers = new ArrayList<>();
        List<Generation.PatchFrom> patches = new ArrayList<>();
        try {
            Generate.checkInterventionCount(r.getInterventionsCount());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        for (int i = 0; i < r.getInterventionsCount(); i++) {
            var in = r.getInterventions(i);
            String at = "interventions[" + i + "]";
            if (InterventionMapper.isPatch(in)) {
                patches.add(InterventionMapper.patchFrom(
                        inputs, model, in, at, prompts, r.getSeed(), r.getAllowUnknownTokens()));
            } else {
                Generation.Steer steer = InterventionMapper.steer(r.getModel(), model, in, at);
                try {
                    Generate.checkReach(steer, at, prompts, r.getMaxNewTokens());
                } catch (InvalidRequest e) {
                    throw Inputs.refused(e);
                }
                steers.add(steer);
            }
        }
        Generate.Plan plan;
        try {
            plan = Generate.plan(
                    new Generate.Request(
                            prompts,
                            steers,
                            patches,
                            r.getMaxNewTokens(),
                            stop,
                            r.getIgnoreEos(),
                            r.getTemperature(),
                            r.getTopK(),
                            r.getTopP(),
                            r.getSeed(),
                            r.getTopAlternatives(),
                            watch),
                    model.serving());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        TextTokenizer tokenizer = model.loaded().tokenizer();
        return new Prepared<>(
                model,
                Generate.METHOD,
                plan.settings().maxNewTokens() + " new tokens, " + (steers.size() + patches.size()) + " interventions",
                prompts.size(),
                (runner, out) -> Generate.run(runner, plan, events(out, tokenizer, watch)));
    }

    private static Generate.Events events(Prepared.Output<GenerateEvent> out, TextTokenizer tokenizer, int[] watch) {
        return new Generate.Events() {
            @Override
            public void accepted(Accepted a) {
                out.send()
                        .accept(GenerateEvent.newBuilder()
                                .setAccepted(Events.accepted(out.requestId(), a, null))
                                .build());
            }

            @Override
            public void token(Generate.Token t) {
                GeneratedToken.Builder token = GeneratedToken.newBuilder()
                        .setPrompt(t.token().prompt())
                        .setStep(t.token().step())
                        .setId(t.token().id())
                        .setText(text(tokenizer, t.token().id()))
                        .setLogProb(t.token().logProb());
                for (int w = 0; w < watch.length; w++) {
                    token.addWatched(choice(tokenizer, watch[w], t.watched()[w]));
                }
                for (int v : t.alternatives()) {
                    token.addAlternatives(choice(tokenizer, v, t.logProbs()[v]));
                }
                out.send().accept(GenerateEvent.newBuilder().setToken(token).build());
            }

            @Override
            public void continuation(Generate.Continuation c) {
                Continuation.Builder b = Continuation.newBuilder()
                        .setPrompt(c.prompt())
                        .setText(tokenizer == null ? "" : tokenizer.decode(c.ids()))
                        .setStoppedBy(c.stopped() ? "stop token" : "max_new_tokens");
                for (int id : c.ids()) {
                    b.addIds(id);
                }
                out.send().accept(GenerateEvent.newBuilder().setContinuation(b).build());
            }

            @Override
            public void summary(Summary s) {
                out.passes().accept(Math.round(s.cost().forwardPasses()));
                out.send()
                        .accept(GenerateEvent.newBuilder()
                                .setSummary(Events.summary(s, null))
                                .build());
            }
        };
    }

    private static TokenChoice choice(TextTokenizer tokenizer, int id, double logProb) {
        return TokenChoice.newBuilder()
                .setId(id)
                .setText(text(tokenizer, id))
                .setLogProb(logProb)
                .build();
    }

    private static String text(TextTokenizer tokenizer, int id) {
        return tokenizer == null ? "" : tokenizer.decode(id);
    }
}
