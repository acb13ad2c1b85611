package dev.patchbay.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.function.Supplier;
import picocli.CommandLine;

/** Runs a command line in-process and keeps what it printed. */
public final class CliRun {
    public final StringWriter out = new StringWriter();
    public final StringWriter err = new StringWriter();
    private final Supplier<CommandLine> commandLine;

    /** The {@code patchbay} command line. */
    public CliRun() {
        this(PatchbayCli::commandLine);
    }

    /** Another command line built on it (the research jar's). */
    public CliRun(Supplier<CommandLine> commandLine) {
        this.commandLine = commandLine;
    }

    public int run(String... args) {
        CommandLine cli = commandLine.get();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        return cli.execute(args);
    }
}
