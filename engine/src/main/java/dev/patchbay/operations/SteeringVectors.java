package dev.patchbay.operations;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A model's steering vectors by name, kept for the life of its server (at most {@code capacity}), which generation's
 * interventions name. Safe for concurrent requests.
 */
public final class SteeringVectors {
    /** The most vectors a model keeps by default. */
    public static final int DEFAULT_CAPACITY = 1024;

    /** A kept vector and the site it was read at. */
    public record Kept(String site, double[] values) {}

    private final Map<String, Kept> kept = new ConcurrentHashMap<>();
    private final int capacity;

    public SteeringVectors(int capacity) {
        this.capacity = capacity;
    }

    /** Refuses a new name once {@code capacity} vectors are kept (checked before the vector is made). */
    void checkRoom(String name) {
        if (!kept.containsKey(name) && kept.size() >= capacity) {
            throw InvalidRequest.tooLarge(
                    "name: the server keeps at most " + capacity + " steering vectors; reuse a name to replace one");
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
