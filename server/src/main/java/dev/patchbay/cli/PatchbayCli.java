package dev.patchbay.cli;

import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code patchbay} command line: one subcommand per job. */
@Command(
        name = "patchbay",
        mixinStandardHelpOptions = true,
        version = "patchbay 0.1.0",
        description = "Localizes language-model behaviour to components (activation patching, AtP, AtP*).",
        subcommands = {DemoCommand.class, LogitsCommand.class, AttributeCommand.class, ServeCommand.class, BenchCommand.class,
                ReplicateCommand.class,
                CommandLine.HelpCommand.class})
public final class PatchbayCli {
    /** The checkpoint used when a command is given no --model, relative to the Patchbay checkout. */
    static final String DEFAULT_MODEL = "models/patchbay-tiny";

    /** The default model's directory; the ./patchbay wrapper sets patchbay.home so any working directory works. */
    static Path defaultModel() {
        return Path.of(System.getProperty("patchbay.home", ".")).resolve(DEFAULT_MODEL);
    }

    public static void main(String[] args) {
        // Nothing may be downloaded at run time: DJL must use the native library bundled in the jar.
        System.setProperty("ai.djl.offline", "true");
        System.exit(commandLine().execute(args));
    }

    /** The configured command line, also for tests that run commands in-process. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new PatchbayCli());
        cli.setDefaultValueProvider(new ConfigFileDefaults());
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("error: " + e.getMessage());
            return 1;
        });
        return cli;
    }
}
