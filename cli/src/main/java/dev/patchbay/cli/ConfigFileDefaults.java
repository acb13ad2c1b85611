package dev.patchbay.cli;

import dev.patchbay.server.config.ServerConfig;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Option defaults: from the properties file named by a command's --config (key {@code cache-bytes} for
 * {@code --cache-bytes}), else the option's own default, else, for {@code serve}, {@link ServerConfig}'s. Flags
 * given on the command line still win.
 */
final class ConfigFileDefaults implements CommandLine.IDefaultValueProvider {
    private static final Map<String, String> SERVE_DEFAULTS = ServerConfig.flagDefaults();
    private Path loadedFile;
    private Properties loaded;

    @Override
    public String defaultValue(ArgSpec arg) throws IOException {
        if (!(arg instanceof OptionSpec option) || option.longestName().equals("--config")) {
            return null;
        }
        String key = option.longestName().replaceFirst("^--", "");
        String fallback = option.defaultValue() != null || !arg.command().name().equals("serve")
                ? option.defaultValue()
                : SERVE_DEFAULTS.get(key);
        OptionSpec config = arg.command().findOption("--config");
        if (config == null || config.getValue() == null) {
            return fallback;
        }
        String value = properties(config.getValue()).getProperty(key);
        return value != null ? value : fallback;
    }

    /** The file's properties, read once per file rather than once per option. */
    private Properties properties(Path file) throws IOException {
        if (!file.equals(loadedFile)) {
            Properties properties = new Properties();
            try (Reader reader = Files.newBufferedReader(file)) {
                properties.load(reader);
            } catch (IOException e) {
                throw new IOException("--config " + file + ": " + e.getMessage(), e);
            }
            loaded = properties;
            loadedFile = file;
        }
        return loaded;
    }
}
