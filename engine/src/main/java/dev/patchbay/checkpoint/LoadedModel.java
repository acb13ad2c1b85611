package dev.patchbay.checkpoint;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.features.Dictionaries;
import dev.patchbay.features.Dictionary;
import dev.patchbay.model.ComputeContext;
import dev.patchbay.model.HookedTransformer;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.model.Precision;
import dev.patchbay.model.family.Families;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model loaded from a Hugging Face directory: the runtime, its tokenizer, the name requests use, and the sparse
 * dictionaries spliced into it (none until {@link #addDictionary}). A model built in memory (the benchmark's) has no
 * directory and no tokenizer: requests must then give token ids.
 */
public record LoadedModel(
        String name, Path directory, HookedTransformer transformer, TextTokenizer tokenizer, Dictionaries dictionaries)
        implements AutoCloseable {
    public LoadedModel(String name, Path directory, HookedTransformer transformer, TextTokenizer tokenizer) {
        this(name, directory, transformer, tokenizer, new Dictionaries());
    }

    /** Loads {@code dir} for fp32 compute. */
    public static LoadedModel load(Path dir) {
        return load(dir, DataType.FLOAT32);
    }

    /**
     * Loads {@code dir}, converting weights to {@code computeType} (FLOAT32, or FLOAT64 for precise checks).
     * Every failure is a {@link CheckpointException} naming the file and, where one is at fault, the tensor.
     */
    public static LoadedModel load(Path dir, DataType computeType) {
        return load(dir, computeType, ComputeContext.cpu());
    }

    /** As {@link #load(Path, DataType)}, with the weights and every later pass on {@code compute}'s device. */
    public static LoadedModel load(Path dir, DataType computeType, ComputeContext compute) {
        Precision.check(computeType, compute.device());
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir, "not a directory (expected a Hugging Face model directory)");
        }
        ModelConfig config = HfConfig.read(dir);
        NDManager manager = compute.newScope();
        try {
            TensorStore store = TensorStore.open(dir, manager, computeType);
            HookedTransformer transformer = Families.build(config, store, manager);
            TextTokenizer tokenizer = TextTokenizer.open(dir);
            Path name = dir.toAbsolutePath().normalize().getFileName();
            return new LoadedModel(name == null ? dir.toString() : name.toString(), dir, transformer, tokenizer);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * Loads the SAELens dictionary in {@code dir} and splices it in under {@code name}: its features become nodes of
     * {@code site} (or of the site its cfg.json names, where null). Refuses, naming the file and field or tensor, a
     * dictionary that does not fit the model, and a second one of that name or at that site.
     */
    public void addDictionary(String name, Path dir, String site) {
        Dictionary d = SaeLensDictionary.load(
                name,
                dir,
                site,
                config(),
                transformer.hookSites(),
                transformer.compute().newScope(),
                transformer.dataType());
        try {
            dictionaries.add(d);
        } catch (IllegalArgumentException e) {
            d.close();
            throw new CheckpointException(dir, e.getMessage());
        }
    }

    public ModelConfig config() {
        return transformer.config();
    }

    /** A model built in memory, without a tokenizer. */
    public static LoadedModel inMemory(String name, HookedTransformer transformer) {
        return new LoadedModel(name, null, transformer, null);
    }

    @Override
    public void close() {
        dictionaries.close();
        if (tokenizer != null) {
            tokenizer.close();
        }
        transformer.close();
    }
}
