package dev.patchbay.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code patchbay} command line: one subcommand per job. */
@Command(
        name = "patchbay",
        mixinStandardHelpOptions = true,
        version = "patchbay 0.1.0",
        description = "Localizes language-model behaviour to components (activation patching, AtP, AtP*).",
        subcommands = {
            LogitsCommand.class,
            AttributeCommand.class,
            CircuitCommand.class,
            ScrubCommand.class,
            GenerateCommand.class,
            ServeCommand.class,
            CommandLine.HelpCommand.class
        })
public final class PatchbayCli {
    public static void main(String[] args) {
        // Nothing may be downloaded at run time: DJL must use the native library bundled in the jar.
        System.setProperty("ai.djl.offline", "true");
        System.exit(commandLine().execute(args));
    }

    /**
     * The configured command line, also for tests that run commands in-process and for the research commands
     * (demo, bench, replicate), which add themselves to it.
     */
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
