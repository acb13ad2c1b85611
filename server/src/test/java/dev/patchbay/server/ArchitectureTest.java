package dev.patchbay.server;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The server's layers: rpc (the calls) over mapping (the contract to and from the engine, in one place) over
 * config; the server uses the engine's API, never its compute kernels.
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

    @Test
    void theServerUsesTheEngineApiNotItsKernels() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .haveFullyQualifiedName("dev.patchbay.passes.PairBatch")
                .orShould()
                .dependOnClassesThat()
                .haveFullyQualifiedName("dev.patchbay.passes.MetricBatch")
                .orShould()
                .dependOnClassesThat()
                .haveFullyQualifiedName("dev.patchbay.passes.PatchBatch")
                .orShould()
                .dependOnClassesThat()
                .haveFullyQualifiedName("dev.patchbay.passes.GradientEstimator")
                .orShould()
                .dependOnClassesThat()
                .haveFullyQualifiedName("dev.patchbay.model.Hooks")
                .orShould()
                .dependOnClassesThat()
                .haveFullyQualifiedName("dev.patchbay.model.TokenBatch")
                .check(server);
    }
}
