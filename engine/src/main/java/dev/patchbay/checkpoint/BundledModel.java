package dev.patchbay.checkpoint;

import java.nio.file.Path;

/** The model that ships with Patchbay, used when a command is given no model. */
public final class BundledModel {
    /** Its directory, relative to the Patchbay checkout. */
    public static final String RELATIVE_PATH = "models/patchbay-tiny";

    private BundledModel() {}

    /** The bundled model's directory; the ./patchbay wrapper sets patchbay.home so any working directory works. */
    public static Path directory() {
        return Path.of(System.getProperty("patchbay.home", ".")).resolve(RELATIVE_PATH);
    }
}
