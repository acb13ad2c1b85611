package dev.patchbay;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.HookedTransformer;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/**
 * For tests whose oracles need float64: the three tiny checkpoints loaded once per class, and a fresh scope
 * per test that is closed after it.
 */
public abstract class Float64Models {
    private static final Map<String, LoadedModel> MODELS = new HashMap<>();
    protected NDManager manager;

    @BeforeAll
    static void loadModels() {
        for (String name : TestCheckpoints.ALL) {
            MODELS.put(name, TestCheckpoints.load(name, DataType.FLOAT64));
        }
    }

    @AfterAll
    static void closeModels() {
        MODELS.values().forEach(LoadedModel::close);
        MODELS.clear();
    }

    @BeforeEach
    void openScope() {
        manager = NDManager.newBaseManager("PyTorch");
    }

    @AfterEach
    void closeScope() {
        manager.close();
    }

    protected static HookedTransformer model(String name) {
        return MODELS.get(name).transformer();
    }

    protected static Iterable<String> models() {
        return TestCheckpoints.ALL;
    }
}
