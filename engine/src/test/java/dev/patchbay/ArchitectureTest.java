package dev.patchbay;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
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
