package dev.patchbay.client;

/**
 * One node's estimate. Names follow the server's: {@code L9H6} (a head over all positions), {@code L9H6.q@12},
 * {@code L3N1024@7}, {@code L5.attn}, {@code L5.mlp}, {@code L5.resid@7}.
 *
 * @param site the node kind: q, k, v, z, post, attn_out, mlp_out or resid_pre
 * @param unit head, key/value head or neuron index (0 for whole-layer kinds)
 * @param position token position, or -1 over all positions
 */
public record NodeEffect(String name, String site, int layer, int unit, int position, double estimate) {}
