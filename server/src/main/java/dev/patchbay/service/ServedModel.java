package dev.patchbay.service;

import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.scheduler.Device;

/** A loaded model with the device that runs its passes. */
record ServedModel(LoadedModel loaded, Device device) {
    ModelConfig config() {
        return loaded.config();
    }
}
