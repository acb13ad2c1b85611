package dev.patchbay.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.tools.JavaCompiler;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * examples/Attribute.java compiles against this artifact alone (the client and what it depends on: the proto
 * stubs and gRPC), not the server's jar, so a Java service that depends on dev.patchbay:patchbay-client can
 * copy it as written.
 */
class ExampleCompilesTest {
    @Test
    void theJavaExampleCompilesAgainstTheClientAlone(@TempDir Path out) throws Exception {
        Path example =
                Path.of("..", "examples", "Attribute.java").toAbsolutePath().normalize();
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "tests run on a JDK");
        StringWriter errors = new StringWriter();
        // The test classpath is this module's: its classes and its compile dependencies (plus JUnit), no server.
        String classpath = System.getProperty("java.class.path");
        try (StandardJavaFileManager files = javac.getStandardFileManager(null, null, null)) {
            boolean ok = javac.getTask(
                            errors,
                            files,
                            null,
                            List.of("-classpath", classpath, "-d", out.toString(), "-proc:none"),
                            null,
                            files.getJavaFileObjects(example))
                    .call();
            assertEquals(true, ok, errors.toString());
        }
        assertEquals(true, Files.exists(out.resolve("Attribute.class")));
    }
}
