package dev.patchbay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * docs/design.md's tree names every package of the Java modules, and only those: a package added, moved or removed
 * without the picture fails here (as BadInputTableTest holds docs/bad-inputs.md to the server).
 */
class DesignDocTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final List<String> MODULES = List.of("engine", "server", "cli", "research", "client-java");

    @Test
    void theTreeInDesignMdIsTheCodesPackages() throws IOException {
        String doc = Files.readString(ROOT.resolve("docs/design.md"));
        int open = doc.indexOf("```\n");
        int close = doc.indexOf("```\n", open + 4);
        assertTrue(open >= 0 && close > open, "design.md starts with its tree in a ``` block");
        Set<String> drawn = new TreeSet<>();
        Matcher m = Pattern.compile("dev\\.patchbay(?:\\.[a-z]+)+").matcher(doc.substring(open, close));
        while (m.find()) {
            drawn.add(m.group());
        }
        assertEquals(packages(), drawn, "docs/design.md's tree against the packages under */src/main/java");
    }

    private static Set<String> packages() throws IOException {
        Set<String> out = new TreeSet<>();
        for (String module : MODULES) {
            Path sources = ROOT.resolve(module).resolve("src/main/java");
            try (Stream<Path> files = Files.walk(sources)) {
                files.filter(f -> f.toString().endsWith(".java"))
                        .map(f -> sources.relativize(f.getParent()).toString().replace('/', '.'))
                        .forEach(out::add);
            }
        }
        assertTrue(out.contains("dev.patchbay.operations"), "the walk found the engine: " + out);
        return out;
    }
}
