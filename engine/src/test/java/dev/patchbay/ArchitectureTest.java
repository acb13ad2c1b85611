package dev.patchbay;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The engine's layers, checked on its compiled classes: each package knows only those below it, there is no
 * import cycle, and the DJL calls that broke autograd cannot come back.
 *
 * <p>Floors, bottom up: model (the runtime) and checkpoint; nodes (the vocabulary); passes (the compute
 * kernels); execution (queue, device, cache) beside the methods: attribution (then baselines, diagnostic,
 * catalog and examples) and generation (steering).
 */
class ArchitectureTest {
    private static JavaClasses engine;

    @BeforeAll
    static void importEngine() {
        engine = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.patchbay");
    }

    @Test
    void noPackageCycles() {
        slices().matching("dev.patchbay.(**)").should().beFreeOfCycles().check(engine);
    }

    /**
     * The runtime has no class-level cycle (it had one of 30 classes: config, architectures, families, blocks, hook
     * context, hook sites, back to the config): the config and the runtime know no family; {@link
     * dev.patchbay.model.family.Families} knows them all. The families and their blocks live in a subpackage of their
     * own, which the runtime never imports ({@link #noPackageCycles}); this checks both packages' classes together.
     * Nested classes count as their top-level class.
     */
    @Test
    void theModelPackageHasNoClassCycle() {
        Map<String, Set<String>> uses = new TreeMap<>();
        for (JavaClass c : engine) {
            if (!c.getPackageName().startsWith("dev.patchbay.model")) {
                continue;
            }
            String from = topLevel(c);
            for (Dependency d : c.getDirectDependenciesFromSelf()) {
                JavaClass target = d.getTargetClass();
                if (target.getPackageName().startsWith("dev.patchbay.model")
                        && !topLevel(target).equals(from)) {
                    uses.computeIfAbsent(from, k -> new TreeSet<>()).add(topLevel(target));
                }
            }
        }
        assertTrue(uses.size() > 20, "the model package's classes: " + uses.keySet());
        List<List<String>> cycles = new StronglyConnected(uses).largerThanOne();
        assertTrue(cycles.isEmpty(), "class cycles in dev.patchbay.model and .family: " + cycles);
    }

    /**
     * The runtime's building blocks are public only so that the families' package can assemble layers from them;
     * nothing else builds a layer or a model by hand. Named, so a new building block is added here when it is made
     * public.
     */
    @Test
    void onlyTheRuntimeAndTheFamiliesUseItsBuildingBlocks() {
        Set<String> blocks = Set.of(
                "dev.patchbay.model.Attention",
                "dev.patchbay.model.Functional",
                "dev.patchbay.model.HookContext",
                "dev.patchbay.model.RopeConfig",
                "dev.patchbay.model.Rotary",
                "dev.patchbay.model.SplitInputs",
                "dev.patchbay.model.TransformerBlock");
        List<String> outside = new ArrayList<>();
        int seen = 0;
        for (JavaClass c : engine) {
            boolean inRuntime = c.getPackageName().equals("dev.patchbay.model")
                    || c.getPackageName().equals("dev.patchbay.model.family");
            for (Dependency d : c.getDirectDependenciesFromSelf()) {
                String target = topLevel(d.getTargetClass());
                boolean block = blocks.contains(target);
                boolean assembles = d.getTargetClass().getName().equals("dev.patchbay.model.HookedTransformer")
                        && d.getDescription().contains("constructor");
                if (block || assembles) {
                    seen++;
                    if (!inRuntime) {
                        outside.add(d.getDescription());
                    }
                }
            }
        }
        assertTrue(seen > 20, "the families use the building blocks: " + seen);
        assertTrue(outside.isEmpty(), "building blocks used outside the runtime: " + outside);
    }

    private static String topLevel(JavaClass c) {
        String name = c.getName();
        int nested = name.indexOf('$');
        return nested < 0 ? name : name.substring(0, nested);
    }

    /** Tarjan's strongly connected components over a small graph. */
    private static final class StronglyConnected {
        private final Map<String, Set<String>> graph;
        private final Map<String, Integer> index = new HashMap<>();
        private final Map<String, Integer> low = new HashMap<>();
        private final Deque<String> stack = new ArrayDeque<>();
        private final Set<String> onStack = new HashSet<>();
        private final List<List<String>> components = new ArrayList<>();

        StronglyConnected(Map<String, Set<String>> graph) {
            this.graph = graph;
        }

        List<List<String>> largerThanOne() {
            for (String v : graph.keySet()) {
                if (!index.containsKey(v)) {
                    visit(v);
                }
            }
            return components.stream().filter(c -> c.size() > 1).toList();
        }

        private void visit(String v) {
            index.put(v, index.size());
            low.put(v, index.get(v));
            stack.push(v);
            onStack.add(v);
            for (String w : graph.getOrDefault(v, Set.of())) {
                if (!index.containsKey(w)) {
                    visit(w);
                    low.put(v, Math.min(low.get(v), low.get(w)));
                } else if (onStack.contains(w)) {
                    low.put(v, Math.min(low.get(v), index.get(w)));
                }
            }
            if (low.get(v).equals(index.get(v))) {
                List<String> component = new ArrayList<>();
                String w;
                do {
                    w = stack.pop();
                    onStack.remove(w);
                    component.add(w);
                } while (!w.equals(v));
                components.add(component);
            }
        }
    }

    @Test
    void theRuntimeKnowsNothingAboveIt() {
        below(
                        "dev.patchbay.model..",
                        "dev.patchbay.checkpoint..",
                        "dev.patchbay.nodes..",
                        "dev.patchbay.passes..",
                        "dev.patchbay.execution..",
                        "dev.patchbay.attribution..",
                        "dev.patchbay.generation..",
                        "dev.patchbay.operations..")
                .check(engine);
    }

    @Test
    void nodesKnowOnlyTheRuntime() {
        below(
                        "dev.patchbay.nodes..",
                        "dev.patchbay.checkpoint..",
                        "dev.patchbay.passes..",
                        "dev.patchbay.execution..",
                        "dev.patchbay.attribution..",
                        "dev.patchbay.generation..",
                        "dev.patchbay.operations..")
                .check(engine);
    }

    @Test
    void passesNeverImportAMethodOrTheExecutor() {
        below(
                        "dev.patchbay.passes..",
                        "dev.patchbay.execution..",
                        "dev.patchbay.attribution..",
                        "dev.patchbay.generation..",
                        "dev.patchbay.checkpoint..",
                        "dev.patchbay.operations..")
                .check(engine);
    }

    @Test
    void executionRunsPassesNotMethods() {
        below(
                        "dev.patchbay.execution..",
                        "dev.patchbay.attribution..",
                        "dev.patchbay.generation..",
                        "dev.patchbay.checkpoint..",
                        "dev.patchbay.operations..")
                .check(engine);
    }

    @Test
    void methodsOrchestrateThroughTheRunnerNotTheExecutor() {
        below(
                        "dev.patchbay.attribution..",
                        "dev.patchbay.execution..",
                        "dev.patchbay.checkpoint..",
                        "dev.patchbay.operations..")
                .check(engine);
        below(
                        "dev.patchbay.generation..",
                        "dev.patchbay.execution..",
                        "dev.patchbay.checkpoint..",
                        "dev.patchbay.attribution..",
                        "dev.patchbay.operations..")
                .check(engine);
    }

    /**
     * Operations (one per use-case) compose methods and run them through a runner: they never reach the executor,
     * so the server, the command line and a notebook run them alike.
     */
    @Test
    void operationsRunThroughTheRunnerNotTheExecutor() {
        below("dev.patchbay.operations..", "dev.patchbay.execution..", "dev.patchbay.checkpoint..")
                .check(engine);
    }

    @Test
    void theEngineIsALibraryWithoutTransportCommandLineOrPlots() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(
                        "io.grpc..",
                        "picocli..",
                        "org.knowm..",
                        "java.awt..",
                        "dev.patchbay.proto..",
                        "dev.patchbay.server..",
                        "dev.patchbay.cli..",
                        "dev.patchbay.research..",
                        "dev.patchbay.client..")
                .check(engine);
    }

    /**
     * DJL's scalar overloads multiply by a temporary tensor over a Java buffer that DJL frees at once while
     * autograd keeps it for the backward pass (NaN gradients after a GC); constants live in the pass's scope
     * instead (Scalars.times, Scalars.plus).
     */
    @Test
    void noScalarArithmeticOnArrays() {
        noClasses().should().callMethodWhere(scalarArithmetic()).check(engine);
    }

    /** Every scope comes from a model's ComputeContext, so it is on the model's device. */
    @Test
    void noManagerByEngineName() {
        noClasses()
                .should()
                .callMethod(NDManager.class, "newBaseManager")
                .orShould()
                .callMethod(NDManager.class, "newBaseManager", String.class)
                .orShould()
                .callMethod(NDManager.class, "newBaseManager", ai.djl.Device.class)
                .orShould()
                .callMethod(NDManager.class, "newBaseManager", ai.djl.Device.class, String.class)
                .check(engine);
    }

    private static ArchRule below(String layer, String... above) {
        return noClasses()
                .that()
                .resideInAPackage(layer)
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(above);
    }

    private static DescribedPredicate<JavaMethodCall> scalarArithmetic() {
        return DescribedPredicate.describe(
                "NDArray.mul/div/add/sub(Number) and their in-place forms",
                call -> call.getTarget().getOwner().isAssignableTo(NDArray.class)
                        && call.getTarget().getName().matches("(mul|div|add|sub)i?")
                        && call.getTarget().getRawParameterTypes().size() == 1
                        && call.getTarget().getRawParameterTypes().get(0).isEquivalentTo(Number.class));
    }
}
