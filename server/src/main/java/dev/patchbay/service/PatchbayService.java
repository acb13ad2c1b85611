package dev.patchbay.service;

import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.checkpoint.TextTokenizer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.proto.v1.ListModelsRequest;
import dev.patchbay.proto.v1.ListModelsResponse;
import dev.patchbay.proto.v1.ModelInfo;
import dev.patchbay.proto.v1.PatchbayGrpc;
import dev.patchbay.proto.v1.TokenizeRequest;
import dev.patchbay.proto.v1.TokenizeResponse;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Arrays;
import java.util.Map;

/** The Patchbay gRPC service over a fixed set of loaded models. */
public final class PatchbayService extends PatchbayGrpc.PatchbayImplBase {
    private final Map<String, LoadedModel> models;

    public PatchbayService(Map<String, LoadedModel> models) {
        this.models = Map.copyOf(models);
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> response) {
        ListModelsResponse.Builder out = ListModelsResponse.newBuilder();
        models.values().stream().sorted((a, b) -> a.name().compareTo(b.name())).forEach(m -> out.addModels(info(m)));
        response.onNext(out.build());
        response.onCompleted();
    }

    @Override
    public void tokenize(TokenizeRequest request, StreamObserver<TokenizeResponse> response) {
        LoadedModel model = models.get(request.getModel());
        if (model == null) {
            response.onError(Status.NOT_FOUND.withDescription("model: no model named '" + request.getModel()
                    + "' is loaded; loaded are " + models.keySet()).asRuntimeException());
            return;
        }
        TextTokenizer.Tokens tokens = model.tokenizer().encode(request.getText());
        response.onNext(TokenizeResponse.newBuilder()
                .addAllIds(Arrays.stream(tokens.ids()).boxed().toList())
                .addAllTokens(Arrays.asList(tokens.strings()))
                .build());
        response.onCompleted();
    }

    private static ModelInfo info(LoadedModel m) {
        ModelConfig c = m.config();
        return ModelInfo.newBuilder()
                .setName(m.name())
                .setArchitecture(c.architecture().modelType())
                .setNLayers(c.nLayers())
                .setNHeads(c.nHeads())
                .setNKvHeads(c.nKvHeads())
                .setDModel(c.dModel())
                .setDHead(c.dHead())
                .setDMlp(c.dMlp())
                .setVocabSize(c.vocabSize())
                .setMaxPositions(c.maxPositions())
                .addAllHookSites(m.transformer().hookSites())
                .build();
    }
}
