package dev.patchbay.server;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The server's layers: rpc (the calls) over mapping (the contract to and from the engine, in one place) over
 * config; the server uses the engine's operations and their values, never its compute kernels (an allow-list).
 */
class ArchitectureTest {
    private static JavaClasses server;

    @BeforeAll
    static void importServer() {
        server = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.patchbay.server");
    }

    @Test
    void noPackageCycles() {
        slices().matching("dev.patchbay.server.(**)").should().beFreeOfCycles().check(server);
    }

    @Test
    void mappingKnowsNoCallAndConfigKnowsNeither() {
        noClasses()
                .that()
                .resideInAPackage("dev.patchbay.server.mapping..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("dev.patchbay.server.rpc..")
                .check(server);
        noClasses()
                .that()
                .resideInAPackage("dev.patchbay.server.config..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("dev.patchbay.server.rpc..", "dev.patchbay.server.mapping..")
                .check(server);
        noClasses()
                .that()
                .resideInAnyPackage("dev.patchbay.server.rpc..", "dev.patchbay.server.mapping..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("dev.patchbay.server")
                .check(server);
    }

    /**
     * What of the engine the server may use: its operations (each use-case's request, plan, run and events), the
     * value types those take and give (nodes, checkpoints, and the named records below), and the execution handles.
     * An allow-list, so that a kernel added to the engine (a pass, a hook) is out of the server's reach until someone
     * decides otherwise here.
     */
    private static final List<String> ENGINE_ALLOWED = List.of(
            "dev.patchbay.operations.",
            "dev.patchbay.nodes.",
            "dev.patchbay.checkpoint.",
            "dev.patchbay.features.Dictionaries",
            "dev.patchbay.features.Dictionary",
            "dev.patchbay.features.FeatureNode",
            "dev.patchbay.features.FeatureEstimates",
            "dev.patchbay.features.FeatureEdges",
            "dev.patchbay.execution.Device",
            "dev.patchbay.execution.CleanCache",
            "dev.patchbay.execution.SchedulerConfig",
            "dev.patchbay.execution.MemoryPool",
            "dev.patchbay.execution.ResidentMemory",
            "dev.patchbay.passes.PassRunner",
            "dev.patchbay.passes.PassTally",
            "dev.patchbay.model.ModelConfig",
            "dev.patchbay.model.Architecture",
            "dev.patchbay.model.HookedTransformer",
            "dev.patchbay.model.ComputeContext",
            "dev.patchbay.model.HookSites",
            "dev.patchbay.model.HookSite",
            "dev.patchbay.model.SiteLayout",
            "dev.patchbay.model.Intervention",
            "dev.patchbay.generation.Generation$",
            "dev.patchbay.generation.SteeringVector$",
            "dev.patchbay.attribution.CausalScrubbing$",
            "dev.patchbay.attribution.CircuitDiscovery$",
            "dev.patchbay.attribution.CircuitEvaluation$",
            "dev.patchbay.attribution.EdgeAttribution$Method",
            "dev.patchbay.attribution.catalog.Methods$BaselineSettings",
            "dev.patchbay.attribution.diagnostic.");

    @Test
    void theServerUsesTheEngineOperationsNotItsKernels() {
        DescribedPredicate<JavaClass> outsideTheApi =
                new DescribedPredicate<>("engine classes outside the server's allow-list") {
                    @Override
                    public boolean test(JavaClass c) {
                        String name = c.getName();
                        return name.startsWith("dev.patchbay.")
                                && !name.startsWith("dev.patchbay.server.")
                                && !name.startsWith("dev.patchbay.proto.")
                                && ENGINE_ALLOWED.stream().noneMatch(name::startsWith);
                    }
                };
        noClasses().should().dependOnClassesThat(outsideTheApi).check(server);
    }

    /** The allow-list is not vacuous: the kernels the server once reached for are outside it. */
    @Test
    void kernelsAreOutsideTheAllowList() {
        for (String kernel : List.of(
                "dev.patchbay.passes.PatchBatch",
                "dev.patchbay.passes.GradientEstimator",
                "dev.patchbay.passes.EdgeEstimator",
                "dev.patchbay.passes.CircuitBatch",
                "dev.patchbay.passes.ScrubBatch",
                "dev.patchbay.passes.GenerationStep",
                "dev.patchbay.model.Hooks",
                "dev.patchbay.model.TokenBatch")) {
            assertTrue(ENGINE_ALLOWED.stream().noneMatch(kernel::startsWith), kernel);
        }
    }
}
