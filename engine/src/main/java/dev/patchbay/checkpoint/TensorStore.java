package dev.patchbay.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import dev.patchbay.model.Weights;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or the shards that
 * {@code model.safetensors.index.json} lists. Every tensor is checked against the shape the architecture
 * expects, so a wrong checkpoint fails at load with the tensor's name, not later with a wrong result.
 */
public final class TensorStore implements Weights {
    private final Map<String, SafetensorsFile> fileOf = new HashMap<>();
    private final NDManager manager;
    private final DataType computeType;

    private TensorStore(NDManager manager, DataType computeType) {
        this.manager = manager;
        this.computeType = computeType;
    }

    public static TensorStore open(Path dir, NDManager manager, DataType computeType) {
        TensorStore store = new TensorStore(manager, computeType);
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.exists(single)) {
            store.add(SafetensorsFile.open(single));
        } else if (Files.exists(index)) {
            JsonObject map = Json.read(index).getAsJsonObject("weight_map");
            if (map == null) {
                throw new CheckpointException(index, "no \"weight_map\" object");
            }
            Map<String, SafetensorsFile> shards = new HashMap<>();
            for (var entry : map.entrySet()) {
                String shardName = entry.getValue().getAsString();
                Path shardPath = dir.resolve(shardName);
                if (!Files.exists(shardPath)) {
                    throw new CheckpointException(
                            index,
                            "tensor '" + entry.getKey() + "' is mapped to " + shardName + ", which does not exist");
                }
                SafetensorsFile shard = shards.computeIfAbsent(shardName, n -> SafetensorsFile.open(shardPath));
                if (!shard.tensors().containsKey(entry.getKey())) {
                    throw new CheckpointException(
                            shardPath,
                            "no tensor '" + entry.getKey() + "', though " + index.getFileName() + " maps it here");
                }
                store.fileOf.put(entry.getKey(), shard);
            }
        } else {
            boolean pickled = Files.exists(dir.resolve("pytorch_model.bin"))
                    || Files.exists(dir.resolve("pytorch_model.bin.index.json"));
            throw new CheckpointException(
                    dir,
                    "no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported)"
                            + (pickled
                                    ? "; this directory has pytorch_model.bin: convert it with transformers,"
                                            + " AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir,"
                                            + " safe_serialization=True)"
                                    : ""));
        }
        return store;
    }

    private void add(SafetensorsFile file) {
        for (String name : file.tensors().keySet()) {
            fileOf.put(name, file);
        }
    }

    @Override
    public boolean has(String name) {
        return fileOf.containsKey(name);
    }

    /** The tensor {@code name}, which must have exactly {@code expectedShape}. */
    @Override
    public NDArray get(String name, long... expectedShape) {
        SafetensorsFile file = fileOf.get(name);
        if (file == null) {
            throw new CheckpointException(anyFile(), "missing tensor '" + name + "'");
        }
        long[] actual = file.tensors().get(name).shape();
        if (!Arrays.equals(actual, expectedShape)) {
            throw new CheckpointException(
                    file.path(),
                    "tensor '" + name + "' has shape " + new Shape(actual) + " but the config implies "
                            + new Shape(expectedShape));
        }
        return file.load(manager, name, computeType);
    }

    /** The first of {@code names} present (checkpoints saved from a bare model lack the head's prefix). */
    public String firstPresent(String... names) {
        for (String name : names) {
            if (has(name)) {
                return name;
            }
        }
        throw new CheckpointException(anyFile(), "missing tensor '" + names[0] + "'");
    }

    private Path anyFile() {
        return fileOf.values().stream().findFirst().map(SafetensorsFile::path).orElse(Path.of("model.safetensors"));
    }
}
