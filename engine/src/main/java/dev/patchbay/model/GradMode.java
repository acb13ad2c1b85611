package dev.patchbay.model;

import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's gradient mode on (or off) for the calling thread while open, and restores what it was on close.
 *
 * <p>PyTorch's grad mode is thread-local, so each model's device thread can differentiate at the same time as
 * the others. DJL's {@code GradientCollector} is not used: DJL 0.35.1's {@code PtGradientCollector} keeps one
 * process-wide flag and refuses a second collector on any thread ("A PtGradientCollector is already
 * collecting"), which made two models served at once fail under load.
 */
final class GradMode implements AutoCloseable {
    private final boolean previous;

    private GradMode(boolean previous) {
        this.previous = previous;
    }

    static GradMode enable() {
        boolean previous = JniUtils.isGradMode();
        JniUtils.setGradMode(true);
        return new GradMode(previous);
    }

    /** Turns gradient mode off for the calling thread while open. */
    static GradMode disable() {
        boolean previous = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        return new GradMode(previous);
    }

    @Override
    public void close() {
        JniUtils.setGradMode(previous);
    }
}
