package dev.patchbay.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.patchbay.attribution.EdgeAttribution;
import dev.patchbay.attribution.catalog.Methods;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.operations.AttributeEdges;
import dev.patchbay.operations.AttributeNodes;
import dev.patchbay.operations.DiscoverCircuit;
import dev.patchbay.operations.EdgeRanking;
import dev.patchbay.operations.Generate;
import dev.patchbay.operations.Scrub;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A request default is written once, in the engine (an operation's or a method's {@code DEFAULT_*} constant): the
 * server's mappers, the command line and both clients leave a field unset ("0", null, None) for the default, and name
 * the constant where they describe it. This test reads their sources for any default value written as a default
 * again (a picocli {@code defaultValue}, a Python keyword default or argument, a Java ternary or initializer) on a line
 * that names what the constant is for (its name's words: "target" for DEFAULT_TARGET), so that a 4 or a 16 elsewhere
 * is not taken for one.
 */
class DefaultsWrittenOnceTest {
    /** The front ends' sources, from the repository root (tests run in the cli module). */
    private static final List<String> FRONT_ENDS =
            List.of("cli/src/main", "server/src/main", "client-java/src/main", "client-python/src/patchbay");

    private static final List<Class<?>> OWNERS = List.of(
            AttributeNodes.class,
            AttributeEdges.class,
            EdgeRanking.class,
            DiscoverCircuit.class,
            Scrub.class,
            Generate.class,
            Methods.class,
            SchedulerConfig.class,
            EdgeAttribution.Settings.class,
            FalseNegativeDiagnostic.Settings.class);

    @Test
    void noFrontEndWritesADefaultAgain() throws Exception {
        List<String> found = new ArrayList<>();
        List<Default> defaults = defaults();
        assertTrue(defaults.size() >= 12, "the defaults read: " + defaults);
        Path root = Path.of("..").toAbsolutePath().normalize();
        for (String dir : FRONT_ENDS) {
            try (Stream<Path> files = Files.walk(root.resolve(dir))) {
                for (Path file : files.filter(DefaultsWrittenOnceTest::source).toList()) {
                    String text = Files.readString(file);
                    for (Default d : defaults) {
                        for (String line : restated(text, d.value(), d.words())) {
                            found.add(root.relativize(file) + ": " + line.strip());
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), found, "defaults written again; leave the field unset and name the constant");
    }

    /** The detector finds what it is for, so that an empty result means something. */
    @Test
    void theDetectorFindsARestatedDefault() {
        List<String> target = List.of("target");
        List<String> samples = List.of("samples");
        assertFalse(restated("def discover(target: float = 0.9, seed: int = 0):", 0.9, target)
                .isEmpty());
        assertFalse(restated("request(samples=200, seed=0)", 200, samples).isEmpty());
        assertFalse(restated("@Option(names = \"--target\", defaultValue = \"0.9\")", 0.9, target)
                .isEmpty());
        assertFalse(restated("int samples = r.getSamples() == 0 ? 200 : r.getSamples();", 200, samples)
                .isEmpty());
        assertFalse(restated("def attribute(method: str = \"atp-star\"):", "atp-star", List.of("method"))
                .isEmpty());
        assertTrue(restated("description = \"(default: \" + Scrub.DEFAULT_SAMPLES + \").\"", 200, samples)
                .isEmpty());
        assertTrue(restated("samples: int = 20", 200, samples).isEmpty());
        assertTrue(restated("private static final int HANDLER_THREADS = 200;", 200, samples)
                .isEmpty());
        assertEquals(List.of("tokens"), words("DEFAULT_MAX_NEW_TOKENS"));
    }

    /** A default's value, and the words of its constant's name that a line restating it would name. */
    private record Default(Object value, List<String> words) {}

    /** Every public static final DEFAULT_* constant of the owners, numbers and strings. */
    private static List<Default> defaults() throws IllegalAccessException {
        List<Default> out = new ArrayList<>();
        for (Class<?> owner : OWNERS) {
            for (Field f : owner.getFields()) {
                int m = f.getModifiers();
                if (Modifier.isStatic(m)
                        && Modifier.isFinal(m)
                        && f.getName().startsWith("DEFAULT")
                        && (f.getType().isPrimitive() || f.getType() == String.class)) {
                    out.add(new Default(f.get(null), words(f.getName())));
                }
            }
        }
        return out;
    }

    private static boolean source(Path file) {
        String name = file.getFileName().toString();
        return (name.endsWith(".java") || name.endsWith(".py"))
                && !file.toString().contains("_pb2");
    }

    /** The words of a constant's name a restatement would carry: of four letters or more, but "default". */
    static List<String> words(String constant) {
        List<String> out = new ArrayList<>();
        for (String w : Pattern.compile("_")
                .splitAsStream(constant.toLowerCase(Locale.ROOT))
                .toList()) {
            if (w.length() >= 4 && !w.equals("default")) {
                out.add(w);
            }
        }
        return out;
    }

    /** Lines of {@code text} that write {@code value} as a default, and name one of {@code words}. */
    static List<String> restated(String text, Object value, List<String> words) {
        String literal = value instanceof String s ? "\"" + Pattern.quote(s) + "\"" : Pattern.quote(number(value));
        String quoted = value instanceof String ? literal : "\"" + literal + "\"";
        Pattern[] patterns = {
            // picocli: defaultValue = "0.9"
            Pattern.compile("defaultValue\\s*=\\s*" + quoted),
            // Python keyword defaults and arguments, Java initializers: = 0.9, or = "atp-star", before , ) ; or :
            Pattern.compile("[^=!<>]=\\s*" + literal + "\\s*[,);:]"),
            // Java ternaries: ? 200 : or : 200;
            Pattern.compile("\\?\\s*" + literal + "\\s*:"),
        };
        List<String> out = new ArrayList<>();
        for (String line : Pattern.compile("\n").splitAsStream(text).toList()) {
            String plain = line.toLowerCase(Locale.ROOT).replace("_", "").replace("-", "");
            if (words.stream().noneMatch(plain::contains)) {
                continue;
            }
            for (Pattern p : patterns) {
                if (p.matcher(line).find()) {
                    out.add(line);
                    break;
                }
            }
        }
        return out;
    }

    /** A number as code writes it: 200, 0.9 (not 200.0). */
    private static String number(Object value) {
        if (value instanceof Double d && d == Math.rint(d)) {
            return Long.toString(d.longValue());
        }
        return value.toString();
    }
}
