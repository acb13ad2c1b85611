package dev.patchbay.server.mapping;

import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.Device;
import dev.patchbay.model.ModelConfig;

/** A loaded model with the device that runs its passes. */
public record ServedModel(LoadedModel loaded, Device device) {
    public ModelConfig config() {
        return loaded.config();
    }
}
