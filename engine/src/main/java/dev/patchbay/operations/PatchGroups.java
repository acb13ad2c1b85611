package dev.patchbay.operations;

import dev.patchbay.attribution.NodePatching;
import dev.patchbay.nodes.Cost;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.PromptPair;
import dev.patchbay.passes.PassRunner;
import java.util.List;

/**
 * Activation patching of node groups, exactly: each group's nodes patched together from the noise prompt, the
 * metric's change per pair and on average. The Patch use-case.
 */
public final class PatchGroups {
    /** The method's name in events: activation patching. */
    public static final String METHOD = "ap";

    private PatchGroups() {}

    /** A named group of nodes patched together; an empty name takes the nodes' names joined by "+". */
    public record Group(String name, List<Node> nodes) {
        public Group {
            nodes = List.copyOf(nodes);
        }

        public String displayName() {
            return name == null || name.isEmpty()
                    ? String.join("+", nodes.stream().map(Node::name).toList())
                    : name;
        }
    }

    public record Request(List<PromptPair> pairs, List<Group> groups) {
        public Request {
            pairs = List.copyOf(pairs);
            groups = List.copyOf(groups);
        }
    }

    public record Plan(Request request, int rows) {
        public double plannedForwardPasses() {
            return request.pairs().size() * (2.0 + request.groups().size());
        }

        public Accepted accepted() {
            return new Accepted(request.groups().size(), "groups", plannedForwardPasses(), METHOD);
        }
    }

    /** A group's effect: its mean over pairs and each pair's. */
    public record Result(String group, double effect, double[] perPair) {}

    /** What the operation tells as it runs, in order. */
    public interface Events {
        void accepted(Accepted accepted);

        void result(Result result);

        void summary(Summary summary);
    }

    public static Plan plan(Request request, Serving on) {
        List<PromptPair> pairs = request.pairs();
        if (pairs.isEmpty()) {
            throw InvalidRequest.invalid("pairs: at least one prompt pair is needed");
        }
        if (request.groups().isEmpty()) {
            throw InvalidRequest.invalid("groups: at least one node group is needed");
        }
        Checks.withinRuns(
                (double) request.groups().size() * pairs.size(),
                "groups: " + request.groups().size() + " groups for " + pairs.size()
                        + " pairs exceed the server's limit of " + on.limits().maxPatchedRuns() + " patched runs",
                on);
        for (int g = 0; g < request.groups().size(); g++) {
            List<Node> nodes = request.groups().get(g).nodes();
            if (nodes.isEmpty()) {
                throw InvalidRequest.invalid("groups[" + g + "].nodes: empty group");
            }
            for (int n = 0; n < nodes.size(); n++) {
                try {
                    NodePatching.checkNode(nodes.get(n), on.config(), pairs);
                } catch (IllegalArgumentException e) {
                    throw InvalidRequest.invalid("groups[" + g + "].nodes[" + n + "]: " + e.getMessage());
                }
            }
        }
        return new Plan(request, Checks.patchRows(on, pairs));
    }

    public static Cost run(PassRunner runner, Plan plan, Events events) {
        Request request = plan.request();
        events.accepted(plan.accepted());
        List<List<Node>> groups = request.groups().stream().map(Group::nodes).toList();
        Cost cost;
        try (NodePatching patching = new NodePatching(
                runner, request.pairs(), groups.stream().flatMap(List::stream).toList(), plan.rows())) {
            patching.patch(
                    groups,
                    (index, effect, perPair) ->
                            events.result(new Result(request.groups().get(index).displayName(), effect, perPair)));
            cost = patching.cost();
        }
        events.summary(new Summary(METHOD, request.pairs().size(), Double.NaN, Double.NaN, cost, runner.tally()));
        return cost;
    }
}
