package dev.patchbay.client;

import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * What lets one client spread its calls over many Patchbay replicas with gRPC's own machinery (issue 19): the
 * service config every channel gets (round_robin over every resolved address, each watched through the standard
 * health service, so a draining or dead replica stops receiving calls), and a {@code static:///host:port,...}
 * target for a fixed list of replicas, which gRPC Java has no resolver for (a {@code dns:///} name with several
 * A records, e.g. a Kubernetes headless service, needs none).
 */
final class Replicas {
    static final String SCHEME = "static";

    /** round_robin with health checking of the server's overall status (service name ""). */
    static final Map<String, ?> SERVICE_CONFIG = Map.of(
            "loadBalancingConfig", List.of(Map.of("round_robin", Map.of())),
            "healthCheckConfig", Map.of("serviceName", ""));

    private static final StaticResolverProvider PROVIDER = new StaticResolverProvider();

    static {
        NameResolverRegistry.getDefaultRegistry().register(PROVIDER);
    }

    private Replicas() {}

    /** The target that resolves to exactly these "host:port" addresses. */
    static String staticTarget(List<String> addresses) {
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("addresses: at least one host:port");
        }
        for (String a : addresses) {
            parse(a); // a bad address fails here, not later in the channel's resolver
        }
        return SCHEME + ":///" + String.join(",", addresses);
    }

    private static InetSocketAddress parse(String address) {
        int colon = address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1) {
            throw new IllegalArgumentException("addresses: '" + address + "' is not host:port");
        }
        String host = address.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1); // [::1]:50051
        }
        try {
            return InetSocketAddress.createUnresolved(host, Integer.parseInt(address.substring(colon + 1)));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("addresses: '" + address + "' has no valid port", e);
        }
    }

    /** Resolves {@code static:///a:1,b:2} to one address group per replica. */
    private static final class StaticResolverProvider extends NameResolverProvider {
        @Override
        public NameResolver newNameResolver(URI target, NameResolver.Args args) {
            if (!SCHEME.equals(target.getScheme())) {
                return null;
            }
            String path = target.getPath().startsWith("/") ? target.getPath().substring(1) : target.getPath();
            List<EquivalentAddressGroup> groups = new ArrayList<>();
            for (String address : path.split(",")) {
                InetSocketAddress unresolved = parse(address);
                groups.add(new EquivalentAddressGroup(
                        new InetSocketAddress(unresolved.getHostString(), unresolved.getPort())));
            }
            return new NameResolver() {
                @Override
                public String getServiceAuthority() {
                    return path.split(",")[0];
                }

                @Override
                public void start(Listener2 listener) {
                    if (groups.isEmpty()) {
                        listener.onError(Status.UNAVAILABLE.withDescription("no addresses in " + target));
                        return;
                    }
                    listener.onResult(ResolutionResult.newBuilder()
                            .setAddressesOrError(io.grpc.StatusOr.fromValue(groups))
                            .build());
                }

                @Override
                public void shutdown() {}
            };
        }

        @Override
        public String getDefaultScheme() {
            return SCHEME;
        }

        @Override
        protected boolean isAvailable() {
            return true;
        }

        @Override
        protected int priority() {
            // Below dns (5): the registry's highest-priority scheme becomes the default for targets without one.
            return 4;
        }

        @Override
        public Collection<Class<? extends SocketAddress>> getProducedSocketAddressTypes() {
            return List.of(InetSocketAddress.class);
        }
    }
}
