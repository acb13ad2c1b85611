package dev.patchbay.features;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The dictionaries spliced into one model, by name. At most one per site: a feature node's name says its site, not
 * its dictionary, so two dictionaries at one site would give two nodes one name. Closing this closes them.
 */
public final class Dictionaries implements AutoCloseable {
    private final Map<String, Dictionary> byName = new LinkedHashMap<>();

    /** Adds {@code d}; refuses a second dictionary of one name or at one site, naming both. */
    public synchronized void add(Dictionary d) {
        if (byName.containsKey(d.name())) {
            throw new IllegalArgumentException("dictionary '" + d.name() + "': a dictionary of that name is loaded");
        }
        for (Dictionary other : byName.values()) {
            if (other.site().equals(d.site())) {
                throw new IllegalArgumentException("dictionary '" + d.name() + "': '" + other.name()
                        + "' is spliced at " + d.site() + " already (one dictionary per site)");
            }
        }
        byName.put(d.name(), d);
    }

    /** The dictionary of that name, or null. */
    public synchronized Dictionary get(String name) {
        return byName.get(name);
    }

    /** Every dictionary, in the order they were added. */
    public synchronized List<Dictionary> all() {
        return new ArrayList<>(byName.values());
    }

    public synchronized boolean isEmpty() {
        return byName.isEmpty();
    }

    @Override
    public synchronized void close() {
        byName.values().forEach(Dictionary::close);
        byName.clear();
    }
}
