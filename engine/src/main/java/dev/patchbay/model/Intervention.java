package dev.patchbay.model;

/**
 * A change to one batch row's activation at a hook site, made as the forward computes it (steering; issue 18): at
 * the chosen positions and units (heads of a per-head site, neurons of an MLP site; a residual site has none),
 * {@link Op#ADD} adds coefficient x value, {@link Op#SET} writes value, {@link Op#SCALE} multiplies by the
 * coefficient and {@link Op#ZERO} writes 0. A value is one number, or one per entry of the site's last axis
 * (d_model, d_head or, at an MLP site, one per chosen neuron).
 *
 * @param row the batch row
 * @param positions the token positions (query positions for attention maps), or null for all
 * @param units the heads or neurons, or null for all
 * @param value what ADD and SET use; null for SCALE and ZERO
 */
public record Intervention(
        String site, Op op, int row, int[] positions, int[] units, double[] value, double coefficient) {
    /** What an intervention does to the chosen entries. */
    public enum Op {
        ADD,
        SET,
        SCALE,
        ZERO
    }

    public Intervention {
        if ((op == Op.ADD || op == Op.SET) && (value == null || value.length == 0)) {
            throw new IllegalArgumentException(
                    op.name().toLowerCase(java.util.Locale.ROOT) + " at " + site + " needs a value");
        }
        if (!Double.isFinite(coefficient)) {
            throw new IllegalArgumentException("intervention at " + site + ": coefficient " + coefficient);
        }
        if (value != null) {
            for (double v : value) {
                if (!Double.isFinite(v)) {
                    throw new IllegalArgumentException("intervention at " + site + ": a value is " + v);
                }
            }
        }
    }

    /** The same intervention on another batch row. */
    public Intervention onRow(int other) {
        return new Intervention(site, op, other, positions, units, value, coefficient);
    }

    /** The same intervention at other positions. */
    public Intervention at(int[] otherPositions) {
        return new Intervention(site, op, row, otherPositions, units, value, coefficient);
    }
}
