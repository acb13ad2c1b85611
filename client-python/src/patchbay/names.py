"""Node names, in the grammar of proto/NODE-NAMES.md (shared with the server and the Java client, and tested
against the same conformance examples, proto/node-names.json)."""
from __future__ import annotations

import re

import numpy as np

from patchbay.v1 import patchbay_pb2 as pb

#: A node kind's short name, as in node names and node sets.
SITES: dict[int, str] = {pb.QUERY: "q", pb.KEY: "k", pb.VALUE: "v", pb.HEAD_OUTPUT: "z", pb.NEURON: "post",
         pb.ATTN_OUT: "attn_out", pb.MLP_OUT: "mlp_out", pb.RESIDUAL: "resid_pre"}
WHOLE_LAYER: set[int] = {pb.ATTN_OUT, pb.MLP_OUT, pb.RESIDUAL}
_INT32_MAX = 2**31 - 1
_NUMBER = "(0|[1-9][0-9]*)"
_NAME = re.compile(rf"L{_NUMBER}(?:H{_NUMBER}(?:\.([qkvz]))?|N{_NUMBER}|\.(attn|mlp|resid))(?:@{_NUMBER})?")
_HEAD_SITES = {None: pb.HEAD_OUTPUT, "z": pb.HEAD_OUTPUT, "q": pb.QUERY, "k": pb.KEY, "v": pb.VALUE}
_WHOLE = {"attn": pb.ATTN_OUT, "mlp": pb.MLP_OUT, "resid": pb.RESIDUAL}


def node_name(kind: int, layer: int, unit: int, position: int) -> str:
    """The canonical name: L9H6 (a head over all positions), L9H6.q@12, L3N1024@7, L5.attn, L5.mlp, L5.resid@7."""
    at = "" if position < 0 else f"@{position}"
    if kind == pb.HEAD_OUTPUT:
        return f"L{layer}H{unit}" + ("" if position < 0 else f".z{at}")
    if kind in (pb.QUERY, pb.KEY, pb.VALUE):
        return f"L{layer}H{unit}.{SITES[kind]}{at}"
    if kind == pb.NEURON:
        return f"L{layer}N{unit}{at}"
    whole = "attn" if kind == pb.ATTN_OUT else "mlp" if kind == pb.MLP_OUT else "resid"
    return f"L{layer}.{whole}{at}"


def parse_node(name: str) -> pb.Node:
    """Parses a node name into the message requests use (``L9H6.z`` reads as ``L9H6``).

    Raises ValueError naming the text if it is not a node name.
    """
    m = _NAME.fullmatch(name)
    if not m:
        raise ValueError(f"not a node name: {name!r} (see proto/NODE-NAMES.md)")
    layer, head, site, neuron, whole, position = m.groups()
    numbers = [int(x) for x in (layer, head, neuron, position) if x is not None]
    if any(x > _INT32_MAX for x in numbers):
        raise ValueError(f"not a node name: {name!r} (a number is too large)")
    if head is not None:
        kind, unit = _HEAD_SITES[site], int(head)
    elif neuron is not None:
        kind, unit = pb.NEURON, int(neuron)
    else:
        kind, unit = _WHOLE[whole], 0
    pos = -1 if position is None else int(position)
    return pb.Node(kind=kind, layer=int(layer), unit=unit, position=pos,
                   name=node_name(kind, int(layer), unit, pos))


def node_names(kind: int, layer: int, units, positions) -> np.ndarray:
    """Vectorised ``node_name`` for many nodes of one kind and layer: arrays of units and positions (-1: all)."""
    units = np.asarray(units)
    positions = np.asarray(positions)
    at = np.where(positions < 0, "", np.char.add("@", positions.astype(str)))
    if kind == pb.HEAD_OUTPUT:
        head = np.char.add(f"L{layer}H", units.astype(str))
        return np.char.add(head, np.where(positions < 0, "", np.char.add(".z", at)))
    if kind in (pb.QUERY, pb.KEY, pb.VALUE):
        head = np.char.add(f"L{layer}H", units.astype(str))
        return np.char.add(np.char.add(head, f".{SITES[kind]}"), at)
    if kind == pb.NEURON:
        return np.char.add(np.char.add(f"L{layer}N", units.astype(str)), at)
    whole = "attn" if kind == pb.ATTN_OUT else "mlp" if kind == pb.MLP_OUT else "resid"
    return np.char.add(np.full(positions.shape, f"L{layer}.{whole}"), at)


#: A reader kind's short name, as in edge names and data frames.
READERS: dict[int, str] = {pb.READER_QUERY: "q", pb.READER_KEY: "k", pb.READER_VALUE: "v", pb.READER_MLP: "mlp",
                           pb.READER_LOGITS: "logits"}
_EDGE = re.compile(rf"(?:(embed)|L{_NUMBER}(?:H{_NUMBER}|\.(mlp)))->"
                   rf"(?:(logits)|L{_NUMBER}(?:H{_NUMBER}\.([qkv])|\.(mlp)))(?:@{_NUMBER})?")
_READER_SITES = {"q": pb.READER_QUERY, "k": pb.READER_KEY, "v": pb.READER_VALUE}


def writer_name(kind: int, layer: int, unit: int) -> str:
    """embed, L3H2 (a head's output) or L4.mlp."""
    if kind == pb.WRITER_EMBED:
        return "embed"
    return f"L{layer}H{unit}" if kind == pb.WRITER_HEAD else f"L{layer}.mlp"


def reader_name(kind: int, layer: int, unit: int) -> str:
    """L5H1.q (a head's query, key or value input), L5.mlp (an MLP's input) or logits."""
    if kind == pb.READER_LOGITS:
        return "logits"
    return f"L{layer}.mlp" if kind == pb.READER_MLP else f"L{layer}H{unit}.{READERS[kind]}"


def edge_name(edge: pb.Edge) -> str:
    """The canonical name: L3H2->L5H1.q, embed->L0.mlp, L4.mlp->logits@7."""
    at = "" if edge.position < 0 else f"@{edge.position}"
    return (writer_name(edge.writer_kind, edge.writer_layer, edge.writer_unit) + "->"
            + reader_name(edge.reader_kind, edge.reader_layer, edge.reader_unit) + at)


def parse_edge(name: str) -> pb.Edge:
    """Parses an edge name (proto/NODE-NAMES.md) into the message results use.

    Raises ValueError naming the text if it is not an edge name.
    """
    m = _EDGE.fullmatch(name)
    if not m:
        raise ValueError(f"not an edge name: {name!r} (see proto/NODE-NAMES.md)")
    embed, w_layer, w_head, _, logits, r_layer, r_head, site, _, position = m.groups()
    if any(int(x) > _INT32_MAX for x in (w_layer, w_head, r_layer, r_head, position) if x is not None):
        raise ValueError(f"not an edge name: {name!r} (a number is too large)")
    edge = pb.Edge(position=-1 if position is None else int(position), name=name)
    if embed:
        edge.writer_kind = pb.WRITER_EMBED
    else:
        edge.writer_kind = pb.WRITER_HEAD if w_head is not None else pb.WRITER_MLP
        edge.writer_layer, edge.writer_unit = int(w_layer), int(w_head or 0)
    if logits:
        edge.reader_kind = pb.READER_LOGITS
    else:
        edge.reader_kind = _READER_SITES[site] if r_head is not None else pb.READER_MLP
        edge.reader_layer, edge.reader_unit = int(r_layer), int(r_head or 0)
    return edge


def writer_names(writers: int, heads: int) -> np.ndarray:
    """The names of the first ``writers`` writers in the server's order: embed, then per layer its heads and MLP."""
    names = ["embed"]
    layer = 0
    while len(names) < writers:
        names += [f"L{layer}H{h}" for h in range(heads)] + [f"L{layer}.mlp"]
        layer += 1
    return np.asarray(names[:writers])


#: The sites a dictionary's feature nodes are named after (proto/NODE-NAMES.md, "Features").
FEATURE_SITES = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "z", "mlp_post")
_FEATURE = re.compile(rf"L{_NUMBER}\.({'|'.join(FEATURE_SITES)})\.(?:f{_NUMBER}|(err))(?:@{_NUMBER})?")


def feature_name(layer: int, site: str, feature: int, position: int) -> str:
    """The canonical name: L6.resid_pre.f1234 (all positions), L6.resid_pre.f1234@7, L6.resid_pre.err@7 (feature
    -1: the error term)."""
    node = "err" if feature < 0 else f"f{feature}"
    return f"L{layer}.{site}.{node}" + ("" if position < 0 else f"@{position}")


def parse_feature(name: str) -> pb.FeatureNode:
    """Parses a feature node's name into the message results use (feature -1: the error term).

    Raises ValueError naming the text if it is not a feature node's name.
    """
    m = _FEATURE.fullmatch(name)
    if not m:
        raise ValueError(f"not a feature node name: {name!r} (see proto/NODE-NAMES.md)")
    layer, site, feature, err, position = m.groups()
    if any(int(x) > _INT32_MAX for x in (layer, feature, position) if x is not None):
        raise ValueError(f"not a feature node name: {name!r} (a number is too large)")
    return pb.FeatureNode(layer=int(layer), site=site, feature=-1 if err else int(feature),
                          position=-1 if position is None else int(position), name=name)
