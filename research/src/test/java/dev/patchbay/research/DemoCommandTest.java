package dev.patchbay.research;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.cli.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoCommandTest {
    @TempDir
    Path temp;

    @Test
    void streamsTheTopHeadsVerifiesTenAndDrawsTheHeatmap() throws Exception {
        CliRun cli = new CliRun(ResearchCli::commandLine);
        Path png = temp.resolve("heads.png");
        System.setProperty(
                "patchbay.home", Path.of("..").toAbsolutePath().normalize().toString());
        assertEquals(0, cli.run("demo", "--out", png.toString()), cli.err.toString());
        String text = cli.out.toString();
        assertTrue(text.contains("layer 0 heads arrived") && text.contains("patched effect"), text);
        long verified =
                text.lines().filter(l -> l.matches("\\d+\\s+L\\d+H\\d+\\s+.*")).count();
        assertEquals(Math.min(10, headCount(text)), verified, text);
        byte[] magic = Arrays.copyOf(Files.readAllBytes(png), 8);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, magic);
        assertTrue(text.contains(png.toAbsolutePath().toString()));
    }

    private static long headCount(String text) {
        return Long.parseLong(text.replaceAll("(?s).*accepted r\\d+: (\\d+) nodes.*", "$1"));
    }
}
