package dev.patchbay.server.mapping;

import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.operations.Accepted;
import dev.patchbay.operations.InvalidRequest;
import dev.patchbay.operations.PatchGroups;
import dev.patchbay.operations.Summary;
import dev.patchbay.proto.v1.PatchEvent;
import dev.patchbay.proto.v1.PatchRequest;
import dev.patchbay.proto.v1.PatchResult;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Patch: the request to {@link PatchGroups}, its events back to the wire. */
public final class PatchMapper {
    private PatchMapper() {}

    public static Prepared<PatchEvent> prepare(Inputs in, PatchRequest r) throws RequestException {
        ServedModel model = in.model(r.getModel());
        List<PromptPair> pairs = in.pairs(model, r.getPairsList(), r.getMetric(), r.getAllowUnknownTokens());
        List<PatchGroups.Group> groups = new ArrayList<>();
        for (int g = 0; g < r.getGroupsCount(); g++) {
            var group = r.getGroups(g);
            List<Node> nodes = new ArrayList<>();
            for (int n = 0; n < group.getNodesCount(); n++) {
                nodes.add(groupNode(group.getNodes(n), "groups[" + g + "].nodes[" + n + "]"));
            }
            groups.add(new PatchGroups.Group(group.getName(), nodes));
        }
        PatchGroups.Plan plan;
        try {
            plan = PatchGroups.plan(new PatchGroups.Request(pairs, groups), model.serving());
        } catch (InvalidRequest e) {
            throw Inputs.refused(e);
        }
        String metric = Inputs.metricText(model, pairs);
        return new Prepared<>(
                model,
                "patch",
                groups.size() + " groups",
                pairs.size(),
                (runner, out) -> PatchGroups.run(runner, plan, events(out, metric)));
    }

    private static PatchGroups.Events events(Prepared.Output<PatchEvent> out, String metric) {
        return new PatchGroups.Events() {
            @Override
            public void accepted(Accepted a) {
                out.send()
                        .accept(PatchEvent.newBuilder()
                                .setAccepted(Events.accepted(out.requestId(), a, metric))
                                .build());
            }

            @Override
            public void result(PatchGroups.Result result) {
                var p = PatchResult.newBuilder().setGroup(result.group()).setEffect(result.effect());
                Arrays.stream(result.perPair()).forEach(p::addPerPair);
                out.send().accept(PatchEvent.newBuilder().setResult(p).build());
            }

            @Override
            public void summary(Summary s) {
                out.passes().accept(Math.round(s.cost().forwardPasses()));
                out.send()
                        .accept(PatchEvent.newBuilder()
                                .setSummary(Events.summary(s, metric))
                                .build());
            }
        };
    }

    /**
     * A node of a Patch group: given by kind, layer, unit and position, or by its name alone (kind unset:
     * {@code {"name": "L2H2"}}, handy from grpcurl); a name given with a kind must agree with it.
     */
    private static Node groupNode(dev.patchbay.proto.v1.Node node, String field) throws RequestException {
        if (node.getKind() == dev.patchbay.proto.v1.NodeKind.NODE_KIND_UNSPECIFIED
                && !node.getName().isEmpty()) {
            try {
                return Node.parse(node.getName());
            } catch (IllegalArgumentException e) {
                throw RequestException.invalid(field + ".name: " + e.getMessage());
            }
        }
        var parsed = new Node(
                Inputs.kind(node.getKind(), field + ".kind"), node.getLayer(), node.getUnit(), node.getPosition());
        if (!node.getName().isEmpty() && !sameNode(node.getName(), parsed)) {
            throw RequestException.invalid(field + ": name '" + node.getName() + "' does not match kind, layer, unit"
                    + " and position (" + parsed.name() + ")");
        }
        return parsed;
    }

    private static boolean sameNode(String name, Node node) {
        try {
            return Node.parse(name).equals(node);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
