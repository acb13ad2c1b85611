package dev.patchbay.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;

/**
 * Where a model's arrays live and its passes run: DJL's PyTorch engine and one device. Created once per model
 * and handed down, so that every scope a pass opens is on the model's device (DJL's own default would be
 * whatever device it found first, silently).
 */
public record ComputeContext(Engine engine, Device device) {
    /** The engine Patchbay runs on; DJL finds engines by name. */
    private static final String ENGINE = "PyTorch";

    /** The CPU of this process. */
    public static ComputeContext cpu() {
        return new ComputeContext(Engine.getEngine(ENGINE), Device.cpu());
    }

    /** The context of arrays owned by {@code manager}. */
    public static ComputeContext of(NDManager manager) {
        return new ComputeContext(manager.getEngine(), manager.getDevice());
    }

    /** A new scope on this device: every array a pass creates in it is freed when it closes. */
    public NDManager newScope() {
        return engine.newBaseManager(device);
    }
}
