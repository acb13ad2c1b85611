package dev.patchbay.nodes;

/** One kind of node in one layer: the unit results are grouped and streamed in. */
public record BlockKey(NodeKind kind, int layer) {}
