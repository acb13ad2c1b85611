package dev.patchbay.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine;

/**
 * Option defaults from the properties file named by a command's --config: key {@code cache-bytes} for
 * {@code --cache-bytes}. Flags given on the command line still win; options the file does not name keep their
 * own defaults.
 */
final class ConfigFileDefaults implements CommandLine.IDefaultValueProvider {
    @Override
    public String defaultValue(ArgSpec arg) throws IOException {
        if (!(arg instanceof OptionSpec option) || option.longestName().equals("--config")) {
            return null;
        }
        OptionSpec config = arg.command().findOption("--config");
        if (config == null || config.getValue() == null) {
            return null;
        }
        Path file = config.getValue();
        Properties properties = new Properties();
        try (Reader reader = Files.newBufferedReader(file)) {
            properties.load(reader);
        } catch (IOException e) {
            throw new IOException("--config " + file + ": " + e.getMessage(), e);
        }
        String value = properties.getProperty(option.longestName().replaceFirst("^--", ""));
        return value != null ? value : option.defaultValue();
    }
}
