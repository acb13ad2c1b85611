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
