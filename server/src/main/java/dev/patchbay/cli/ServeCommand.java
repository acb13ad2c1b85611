package dev.patchbay.cli;

import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.service.PatchbayServer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Starts the gRPC server. */
@Command(name = "serve", mixinStandardHelpOptions = true, description = "Serves the Patchbay gRPC API.")
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--port", defaultValue = "50051", description = "Port to listen on; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--model", description = "Hugging Face model directory to load; repeat for several (default: "
            + PatchbayCli.DEFAULT_MODEL + ").")
    List<Path> models;

    @Override
    public Integer call() throws Exception {
        Map<String, LoadedModel> loaded = new LinkedHashMap<>();
        for (Path dir : models == null ? List.of(PatchbayCli.defaultModel()) : models) {
            LoadedModel m = LoadedModel.load(dir);
            if (loaded.putIfAbsent(m.name(), m) != null) {
                throw new IllegalArgumentException("--model: two models are named '" + m.name() + "'");
            }
        }
        PatchbayServer server = PatchbayServer.start(port, loaded);
        // Tests and scripts read this line to find a port chosen with --port 0.
        System.out.println("patchbay listening on 127.0.0.1:" + server.port());
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            loaded.values().forEach(LoadedModel::close);
        }));
        server.awaitTermination();
        return 0;
    }
}
