package dev.patchbay.cli;

import dev.patchbay.attribution.AttributionResult;
import dev.patchbay.attribution.diagnostic.FalseNegativeDiagnostic;
import dev.patchbay.attribution.diagnostic.Verification;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.AttributeNodes;
import dev.patchbay.operations.Summary;
import dev.patchbay.passes.PassRunner;
import java.util.ArrayList;
import java.util.List;

/**
 * An {@link AttributeNodes} plan run in-process, its events collected for printing; {@code magnitudes}: whether the
 * scores are magnitudes (the summary says).
 */
record NodeRun(
        AttributionResult result,
        List<Verification.Verified> verified,
        FalseNegativeDiagnostic.Report<Node> report,
        Cost total,
        boolean magnitudes) {
    static NodeRun of(PassRunner runner, AttributeNodes.Plan plan) {
        List<Verification.Verified> verified = new ArrayList<>();
        List<FalseNegativeDiagnostic.Report<Node>> report = new ArrayList<>();
        Cost[] total = {Cost.NONE};
        boolean[] magnitudes = {false};
        AttributionResult result = AttributeNodes.run(runner, plan, new AttributeNodes.Events() {
            @Override
            public void accepted(Accepted accepted) {}

            @Override
            public void block(EffectBlock block) {}

            @Override
            public void progress(String stage, long done, long total) {}

            @Override
            public void verified(Verification.Verified v) {
                verified.add(v);
            }

            @Override
            public void diagnostic(FalseNegativeDiagnostic.Report<Node> r) {
                report.add(r);
            }

            @Override
            public void summary(Summary s) {
                total[0] = s.cost();
                magnitudes[0] = s.magnitudes();
            }
        });
        return new NodeRun(
                result, List.copyOf(verified), report.isEmpty() ? null : report.get(0), total[0], magnitudes[0]);
    }
}
