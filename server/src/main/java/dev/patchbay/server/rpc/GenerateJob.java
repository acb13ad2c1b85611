package dev.patchbay.server.rpc;

import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.execution.Device;
import dev.patchbay.generation.Generation;
import dev.patchbay.proto.v1.Accepted;
import dev.patchbay.proto.v1.Continuation;
import dev.patchbay.proto.v1.GenerateEvent;
import dev.patchbay.proto.v1.GeneratedToken;
import dev.patchbay.proto.v1.Summary;
import dev.patchbay.proto.v1.TokenChoice;
import dev.patchbay.server.mapping.RequestParser;
import io.grpc.stub.StreamObserver;
import java.util.Comparator;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.stream.IntStream;

/** One Generate request on its own thread: every new token streamed as its step completes, then each continuation. */
final class GenerateJob extends StreamingJob<GenerateEvent> {
    private static final String METHOD = "generate";
    private final RequestParser.Generate request;
    private final AccessLog.Entry access;

    GenerateJob(
            RequestParser.Generate request,
            Device.Job job,
            StreamObserver<GenerateEvent> call,
            BooleanSupplier stopping) {
        super(job, call, stopping);
        this.request = request;
        this.access = AccessLog.current();
        access.request(
                job.id(),
                METHOD,
                request.settings().maxNewTokens() + " new tokens, "
                        + (request.steers().size() + request.patches().size()) + " interventions",
                request.prompts().size());
    }

    @Override
    void work() {
        long start = System.nanoTime();
        TextTokenizer tokenizer = request.model().loaded().tokenizer();
        send(GenerateEvent.newBuilder()
                .setAccepted(Accepted.newBuilder()
                        .setRequestId(job.id())
                        .setNodeCount(request.prompts().size())
                        .setPlannedForwardPasses((double) request.prompts().size()
                                * request.settings().maxNewTokens())
                        .setMethod(METHOD))
                .build());
        int[] steps = {0};
        List<int[]> out = Generation.run(
                job.runner(), request.prompts(), request.steers(), request.patches(), request.settings(), t -> {
                    GeneratedToken.Builder token = GeneratedToken.newBuilder()
                            .setPrompt(t.prompt())
                            .setStep(t.step())
                            .setId(t.id())
                            .setText(text(tokenizer, t.id()))
                            .setLogProb(t.logProb());
                    if (request.topAlternatives() > 0 || request.watch().length > 0) {
                        double[] logProbs = t.logProbs();
                        for (int w : request.watch()) {
                            token.addWatched(TokenChoice.newBuilder()
                                    .setId(w)
                                    .setText(text(tokenizer, w))
                                    .setLogProb(logProbs[w]));
                        }
                        IntStream.range(0, logProbs.length)
                                .boxed()
                                .sorted(Comparator.comparingDouble((Integer v) -> -logProbs[v]))
                                .limit(request.topAlternatives())
                                .forEach(v -> token.addAlternatives(TokenChoice.newBuilder()
                                        .setId(v)
                                        .setText(text(tokenizer, v))
                                        .setLogProb(logProbs[v])));
                    }
                    steps[0]++;
                    send(GenerateEvent.newBuilder().setToken(token).build());
                });
        for (int p = 0; p < out.size(); p++) {
            int[] ids = out.get(p);
            boolean stopped = ids.length > 0 && isStop(ids[ids.length - 1]);
            Continuation.Builder c = Continuation.newBuilder()
                    .setPrompt(p)
                    .setText(tokenizer == null ? "" : tokenizer.decode(ids))
                    .setStoppedBy(stopped ? "stop token" : "max_new_tokens");
            for (int id : ids) {
                c.addIds(id);
            }
            send(GenerateEvent.newBuilder().setContinuation(c).build());
        }
        access.passes(steps[0]);
        send(GenerateEvent.newBuilder()
                .setSummary(Summary.newBuilder()
                        .setMethod(METHOD)
                        .setPairs(request.prompts().size())
                        .setForwardPasses(steps[0])
                        .setWallSeconds((System.nanoTime() - start) / 1e9))
                .build());
    }

    private boolean isStop(int id) {
        for (int s : request.settings().stopTokens()) {
            if (s == id) {
                return true;
            }
        }
        return false;
    }

    private static String text(TextTokenizer tokenizer, int id) {
        return tokenizer == null ? "" : tokenizer.decode(id);
    }
}
