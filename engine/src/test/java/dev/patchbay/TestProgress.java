package dev.patchbay;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;

/**
 * Prints each test as it finishes, with its outcome and time, so that a long test class shows progress (Maven prints
 * only when a class starts and ends, and an oracle class can run for minutes). Registered through
 * META-INF/services, for this module and every module that uses its test jar.
 */
public final class TestProgress implements TestExecutionListener {
    private final Map<String, Long> started = new ConcurrentHashMap<>();

    @Override
    public void executionStarted(TestIdentifier test) {
        if (test.isTest()) {
            started.put(test.getUniqueId(), System.nanoTime());
        }
    }

    @Override
    public void executionSkipped(TestIdentifier test, String reason) {
        if (test.isTest()) {
            System.out.printf(Locale.ROOT, "  skipped %s: %s%n", name(test), reason);
        }
    }

    @Override
    public void executionFinished(TestIdentifier test, TestExecutionResult result) {
        if (!test.isTest()) {
            return;
        }
        Long start = started.remove(test.getUniqueId());
        double seconds = start == null ? 0 : (System.nanoTime() - start) / 1e9;
        String outcome = switch (result.getStatus()) {
            case SUCCESSFUL -> "ok";
            case ABORTED -> "aborted";
            case FAILED -> "FAILED";
        };
        System.out.printf(Locale.ROOT, "  %s %s (%.1f s)%n", outcome, name(test), seconds);
        System.out.flush();
    }

    /** Class > method, and a parameterized invocation's own name ("[2] tiny-llama") after it. */
    private static String name(TestIdentifier test) {
        return test.getSource()
                .filter(MethodSource.class::isInstance)
                .map(MethodSource.class::cast)
                .map(m -> {
                    String method = m.getJavaClass().getSimpleName() + " > " + m.getMethodName();
                    return test.getDisplayName().startsWith(m.getMethodName())
                            ? method
                            : method + " " + test.getDisplayName();
                })
                .orElse(test.getDisplayName());
    }
}
