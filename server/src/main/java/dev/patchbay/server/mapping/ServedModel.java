package dev.patchbay.server.mapping;

import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.Device;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.operations.RequestLimits;
import dev.patchbay.operations.Serving;
import dev.patchbay.operations.SteeringVectors;

/**
 * A loaded model with the device that runs its passes, what its requests are planned against, and the steering
 * vectors made for it.
 */
public record ServedModel(LoadedModel loaded, Device device, Serving serving, SteeringVectors vectors) {
    /** A model served on {@code device}, its requests planned within {@code limits}. */
    public static ServedModel of(LoadedModel loaded, Device device, RequestLimits limits) {
        return new ServedModel(
                loaded,
                device,
                new Serving(loaded.transformer(), device.budget(), limits),
                new SteeringVectors(SteeringVectors.DEFAULT_PER_CALLER));
    }

    public ModelConfig config() {
        return loaded.config();
    }
}
