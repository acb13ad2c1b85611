package dev.patchbay.research.bench;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a Python script of the checkout that prints one JSON object, for the benchmark sections measured in Python
 * (the Python client, the plain PyTorch reference). A script that cannot run gives the reason, never a failed
 * benchmark: the rest of the table is still worth having.
 */
final class PythonScript {
    /** The script's JSON, or why there is none. */
    record Outcome(JsonObject json, String failure) {
        boolean ok() {
            return json != null;
        }
    }

    private PythonScript() {}

    /**
     * @param script a path relative to the checkout ({@code patchbay.home})
     * @param hint what to do when the script fails, appended to its last line of errors
     */
    static Outcome run(String python, String script, List<String> args, int timeoutMinutes, String hint)
            throws InterruptedException {
        Path file = Path.of(System.getProperty("patchbay.home", "."), script);
        if (!Files.isRegularFile(file)) {
            return new Outcome(null, "cannot find " + file + " (run through ./patchbay)");
        }
        Path log;
        Path output;
        Process process;
        try {
            log = Files.createTempFile("patchbay-python", ".log");
            // To a file, not a pipe: reading a pipe to its end would wait past the timeout for a hung script.
            output = Files.createTempFile("patchbay-python", ".json");
            List<String> command = new ArrayList<>(List.of(python, file.toString()));
            command.addAll(args);
            process = new ProcessBuilder(command)
                    .redirectError(log.toFile())
                    .redirectOutput(output.toFile())
                    .start();
        } catch (IOException e) {
            return new Outcome(null, "cannot start " + python + ": " + e.getMessage());
        }
        if (!process.waitFor(timeoutMinutes, TimeUnit.MINUTES) || process.exitValue() != 0) {
            process.destroyForcibly();
            return new Outcome(null, python + " failed (" + hint + "): " + lastLine(log));
        }
        try {
            return new Outcome(
                    new Gson()
                            .fromJson(
                                    Files.readString(output, StandardCharsets.UTF_8)
                                            .strip(),
                                    JsonObject.class),
                    null);
        } catch (IOException | JsonParseException e) {
            return new Outcome(null, "cannot read " + script + "'s output: " + e.getMessage());
        }
    }

    private static String lastLine(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return lines.isEmpty() ? "(no output)" : lines.get(lines.size() - 1);
        } catch (IOException e) {
            return "(no log)";
        }
    }
}
