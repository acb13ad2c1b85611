package dev.patchbay.server.mapping;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Steering vectors the server keeps by model and name, for the life of the server; at most {@code capacity}. */
final class SteeringVectors {
    /** A kept vector and the site it was read at. */
    record Kept(String site, double[] values) {}

    private final Map<String, Kept> kept = new ConcurrentHashMap<>();
    private final int capacity;

    SteeringVectors(int capacity) {
        this.capacity = capacity;
    }

    /** Refuses a new name once the server keeps {@code capacity} vectors (checked before the vector is made). */
    void checkRoom(String model, String name) throws RequestException {
        if (!kept.containsKey(model + "\u0000" + name) && kept.size() >= capacity) {
            throw RequestException.tooLarge(
                    "name: the server keeps at most " + capacity + " steering vectors; reuse a name to replace one");
        }
    }

    void put(String model, String name, Kept vector) {
        kept.put(model + "\u0000" + name, vector);
    }

    Kept get(String model, String name) {
        return kept.get(model + "\u0000" + name);
    }
}
