package dev.patchbay.server.rpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCall;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One log line per finished call of the Patchbay service (logger {@code dev.patchbay.access}): request id,
 * peer, RPC, method, nodes, pairs, status, wall time and passes run; and the count of finished calls by
 * status for {@code GetMetrics}. Handlers fill in what only they know through {@link #current()}.
 */
public final class AccessLog implements ServerInterceptor {
    private static final Logger log = LoggerFactory.getLogger("dev.patchbay.access");
    private static final Context.Key<Entry> ENTRY = Context.key("patchbay-access-entry");

    private final Map<String, LongAdder> byStatus = new ConcurrentHashMap<>();

    /** What one call was: filled in by its handler and job, logged when the call closes. */
    public static final class Entry {
        private volatile String requestId = "-";
        private volatile String method = "-";
        private volatile String nodes = "-";
        private volatile int pairs;
        private volatile long passes;

        public void request(String requestId, String method, String nodes, int pairs) {
            this.requestId = requestId;
            this.method = method;
            this.nodes = nodes;
            this.pairs = pairs;
        }

        public void passes(long passes) {
            this.passes = passes;
        }
    }

    /** The entry of the call being handled on this thread (a detached one outside a call, e.g. in tests). */
    public static Entry current() {
        Entry e = ENTRY.get();
        return e != null ? e : new Entry();
    }

    /** Finished calls by status code name. */
    public Map<String, Long> callsByStatus() {
        Map<String, Long> out = new TreeMap<>();
        byStatus.forEach((code, n) -> out.put(code, n.sum()));
        return out;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Entry entry = new Entry();
        long start = System.nanoTime();
        String peer = peer(call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
        String rpc = call.getMethodDescriptor().getBareMethodName();
        ServerCall<Q, R> logged = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                super.close(status, trailers);
                byStatus.computeIfAbsent(status.getCode().name(), k -> new LongAdder())
                        .increment();
                log.info(
                        "id={} peer={} rpc={} method={} nodes=\"{}\" pairs={} status={} wall_s={} passes={}",
                        entry.requestId,
                        peer,
                        rpc,
                        entry.method,
                        entry.nodes,
                        entry.pairs,
                        status.getCode(),
                        String.format("%.3f", (System.nanoTime() - start) / 1e9),
                        entry.passes);
            }
        };
        return Contexts.interceptCall(Context.current().withValue(ENTRY, entry), logged, headers, next);
    }

    private static String peer(SocketAddress address) {
        if (address instanceof InetSocketAddress inet && inet.getAddress() != null) {
            return inet.getAddress().getHostAddress() + ":" + inet.getPort();
        }
        return String.valueOf(address);
    }
}
