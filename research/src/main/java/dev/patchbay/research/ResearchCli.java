package dev.patchbay.research;

import dev.patchbay.cli.PatchbayCli;
import picocli.CommandLine;

/**
 * The research jar's command line: every command of {@code patchbay}, plus the demo, the benchmark and the
 * paper's replication, which need the Java client and XChart and so stay off the served jar.
 */
public final class ResearchCli {
    private ResearchCli() {}

    public static void main(String[] args) {
        // Nothing may be downloaded at run time: DJL must use the native library bundled in the jar.
        System.setProperty("ai.djl.offline", "true");
        System.exit(commandLine().execute(args));
    }

    /** The configured command line, also for tests that run commands in-process. */
    public static CommandLine commandLine() {
        CommandLine cli = PatchbayCli.commandLine();
        cli.addSubcommand(new DemoCommand());
        cli.addSubcommand(new BenchCommand());
        cli.addSubcommand(new ReplicateCommand());
        return cli;
    }
}
