package dev.patchbay.cli;

import dev.patchbay.checkpoint.LoadedModel;
import java.nio.file.Path;
import java.util.Map;

/**
 * One {@code --dictionary} value, {@code [MODEL/]NAME=DIR[@SITE]}: which model, the name requests use, the SAELens
 * directory, and the site (null: the one its cfg.json names).
 */
record DictionarySpec(String model, String name, Path directory, String site) {
    static DictionarySpec parse(String spec, Map<String, LoadedModel> models) {
        int equals = spec.indexOf('=');
        if (equals <= 0 || equals == spec.length() - 1) {
            throw new IllegalArgumentException("--dictionary: '" + spec
                    + "' is not [MODEL/]NAME=DIR[@SITE], e.g. res6=/saes/l6@blocks.6.hook_resid_pre");
        }
        String left = spec.substring(0, equals);
        String right = spec.substring(equals + 1);
        int slash = left.indexOf('/');
        String model = slash < 0 ? null : left.substring(0, slash);
        String name = slash < 0 ? left : left.substring(slash + 1);
        if (model == null) {
            if (models.size() != 1) {
                throw new IllegalArgumentException("--dictionary " + spec + ": several models are served; name one,"
                        + " MODEL/" + name + "=..., one of " + models.keySet());
            }
            model = models.keySet().iterator().next();
        } else if (!models.containsKey(model)) {
            throw new IllegalArgumentException(
                    "--dictionary " + spec + ": no model '" + model + "' is served; served are " + models.keySet());
        }
        int at = right.lastIndexOf('@');
        String site = at < 0 ? null : right.substring(at + 1);
        String dir = at < 0 ? right : right.substring(0, at);
        if (name.isEmpty() || dir.isEmpty() || (site != null && site.isEmpty())) {
            throw new IllegalArgumentException("--dictionary: '" + spec + "' is not [MODEL/]NAME=DIR[@SITE]");
        }
        return new DictionarySpec(model, name, Path.of(dir), site);
    }

    void addTo(Map<String, LoadedModel> models) {
        models.get(model).addDictionary(name, directory, site);
    }
}
