package dev.patchbay.operations;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A model's steering vectors, kept for the life of its server, which generation's interventions name. Each caller
 * has a namespace of its own ({@link #of}): with bearer tokens on, a caller is a token, so one client can neither
 * replace another's vector nor fill the slots another needs; without tokens every caller shares one namespace.
 * Each namespace keeps at most {@code perCaller} vectors. Safe for concurrent requests.
 */
public final class SteeringVectors {
    /** The most vectors one caller keeps by default. */
    public static final int DEFAULT_PER_CALLER = 1024;

    /** A kept vector and the site it was read at. */
    public record Kept(String site, double[] values) {}

    private final Map<String, Namespace> namespaces = new ConcurrentHashMap<>();
    private final int perCaller;

    public SteeringVectors(int perCaller) {
        this.perCaller = perCaller;
    }

    /** {@code caller}'s vectors ("" where callers are not told apart). */
    public Namespace of(String caller) {
        return namespaces.computeIfAbsent(caller, c -> new Namespace(perCaller));
    }

    /** One caller's vectors by name. */
    public static final class Namespace {
        private final Map<String, Kept> kept = new ConcurrentHashMap<>();
        private final int capacity;

        private Namespace(int capacity) {
            this.capacity = capacity;
        }

        /** Refuses a new name once the caller keeps {@code capacity} vectors (checked before the vector is made). */
        void checkRoom(String name) {
            if (!kept.containsKey(name) && kept.size() >= capacity) {
                throw InvalidRequest.tooLarge("name: the server keeps at most " + capacity
                        + " steering vectors a caller; reuse a name to replace one");
            }
        }

        void put(String name, Kept vector) {
            kept.put(name, vector);
        }

        /** The vector kept under {@code name}, or null. */
        public Kept get(String name) {
            return kept.get(name);
        }
    }
}
