"""Typed results of AttributeFeatures: sparse feature blocks, verified feature nodes, each dictionary's diagnostic,
and their data frames."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchbay import events as ev
from patchbay.names import feature_name
from patchbay.v1 import patchbay_pb2 as pb

#: A feature method's name, as in ``Client.attribute(nodes="features", method=...)``.
METHODS: dict[str, pb.FeatureMethod] = {"atp": pb.FEATURE_ATP, "atp-star": pb.FEATURE_ATP_STAR, "ig": pb.FEATURE_IG}


@dataclass(frozen=True)
class FeatureBlock:
    """One pair's estimates over one dictionary, sparse: feature ``features[e]`` at position ``positions[e]`` has
    ``estimates[e]`` (only features whose activation changed between the clean and noise runs are listed); the error
    node's estimate at position t is ``errors[t]``."""
    pair: int
    dictionary: str
    layer: int
    site: str
    positions: np.ndarray
    features: np.ndarray
    estimates: np.ndarray
    errors: np.ndarray


@dataclass(frozen=True)
class VerifiedFeature:
    rank: int
    dictionary: str
    name: str
    estimate: float
    effect: float


@dataclass(frozen=True)
class FeatureDiagnostic:
    """Bounds on the effects of one dictionary's scored nodes left unverified; ``flagged`` (name, upper bound) should
    be verified next."""
    dictionary: str
    nodes: int
    max_upper_bound: float
    threshold: float
    alpha: float
    flagged: list[tuple[str, float]]
    expected_missed: float
    forward_passes: float


@dataclass(frozen=True)
class FeatureEdgeBlock:
    """One prompt pair's EAP edges from one dictionary's features into another's (``downstream_nodes``, largest |AtP|
    first): rows of (name, from, to, estimate, verified_effect), largest |estimate| first; NaN where not verified."""
    pair: int
    upstream: str
    downstream: str
    downstream_nodes: list[str]
    edges: list[tuple[str, str, str, float, float]]


def convert(event: pb.AttributeFeaturesEvent):
    kind = event.WhichOneof("event")
    if kind == "edges":
        edges = event.edges
        return FeatureEdgeBlock(edges.pair, edges.upstream, edges.downstream,
                                [n.name for n in edges.downstream_nodes],
                                [(e.name, getattr(e, "from").name, e.to.name, e.estimate,
                                  e.effect if e.verified else float("nan")) for e in edges.edges])
    if kind == "block":
        b = event.block
        return FeatureBlock(b.pair, b.dictionary, b.layer, b.site, np.asarray(b.positions, dtype=np.int64),
                            np.asarray(b.features, dtype=np.int64), np.asarray(b.estimates, dtype=np.float64),
                            np.asarray(b.errors, dtype=np.float64))
    if kind == "verified":
        v = event.verified
        return VerifiedFeature(v.rank, v.dictionary, v.node.name, v.estimate, v.effect)
    if kind == "diagnostic":
        d = event.diagnostic
        return FeatureDiagnostic(d.dictionary, d.nodes, d.max_upper_bound, d.threshold, d.alpha,
                                 [(b.node.name, b.upper_bound) for b in d.flagged], d.expected_missed,
                                 d.forward_passes)
    # Accepted, Progress and Summary are Attribute's own messages.
    wrapped = pb.AttributeEvent()
    getattr(wrapped, kind).CopyFrom(getattr(event, kind))
    return ev.convert(wrapped)


COLUMNS = ["name", "dictionary", "layer", "site", "feature", "position", "estimate", "verified_effect"]
PAIR_COLUMNS = ["pair", "name", "dictionary", "layer", "site", "feature", "position", "estimate"]


def pair_rows(blocks: list[FeatureBlock]):
    """One row per pair and scored node (features that changed, and the error node at every position): feature -1
    is the error term."""
    import pandas as pd

    frames = []
    for b in blocks:
        positions = np.concatenate([b.positions, np.arange(b.errors.size)])
        features = np.concatenate([b.features, np.full(b.errors.size, -1)])
        frames.append(pd.DataFrame({
            "pair": b.pair, "dictionary": b.dictionary, "layer": b.layer, "site": b.site,
            "feature": features, "position": positions,
            "estimate": np.concatenate([b.estimates, b.errors])}))
    if not frames:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(1, "name", [feature_name(layer, site, f, t) for layer, site, f, t in
                             zip(frame["layer"], frame["site"], frame["feature"], frame["position"], strict=True)])
    return frame[PAIR_COLUMNS]


def rows(blocks: list[FeatureBlock], verified: list[VerifiedFeature], k: int | None):
    """One row per node with its mean estimate over the pairs (a pair where a feature did not change adds 0), largest
    |estimate| first; or the k largest."""
    import pandas as pd

    per_pair = pair_rows(blocks)
    if per_pair.empty:
        return pd.DataFrame(columns=COLUMNS)
    pairs = per_pair["pair"].nunique()
    keys = ["name", "dictionary", "layer", "site", "feature", "position"]
    mean = per_pair.groupby(keys, sort=False, as_index=False)["estimate"].sum()
    mean["estimate"] = mean["estimate"] / pairs
    order = np.argsort(-np.abs(mean["estimate"].to_numpy()), kind="stable")
    if k is not None:
        order = order[:k]
    mean = mean.iloc[order].reset_index(drop=True)
    effects = {(v.dictionary, v.name): v.effect for v in verified}
    mean["verified_effect"] = [effects.get((d, n), np.nan)
                               for d, n in zip(mean["dictionary"], mean["name"], strict=True)]
    return mean[COLUMNS]


EDGE_COLUMNS = ["pair", "upstream", "downstream", "name", "from", "to", "estimate", "verified_effect"]


def edge_rows(blocks: list[FeatureEdgeBlock]):
    """One row per feature edge and prompt pair, each block's largest |estimate| first."""
    import pandas as pd

    return pd.DataFrame([(b.pair, b.upstream, b.downstream, *edge) for b in blocks for edge in b.edges],
                        columns=EDGE_COLUMNS)


def request(model: str, pairs, *, dictionaries, method: str | None, metric: pb.MetricKind, verify_top_k: int,
            diagnostic: dict | bool | None, allow_unknown_tokens: bool,
            ig_steps: int = 0, edge_nodes: int = 0, verify_edges: int = 0) -> pb.AttributeFeaturesRequest:
    """The AttributeFeaturesRequest that ``Client.attribute(nodes="features")`` sends."""
    if method is not None and method not in METHODS:
        raise ValueError(f"method: {method!r} is not offered over features; use one of {sorted(METHODS)}")
    if isinstance(dictionaries, str):
        dictionaries = [dictionaries]
    out = pb.AttributeFeaturesRequest(model=model, pairs=pairs, metric=metric,
                                      dictionaries=list(dictionaries or []),
                                      method=METHODS[method] if method is not None else None,
                                      verify_top_k=verify_top_k, allow_unknown_tokens=allow_unknown_tokens,
                                      ig_steps=ig_steps, edge_nodes=edge_nodes, verify_edges=verify_edges)
    if diagnostic:
        options = {} if diagnostic is True else dict(diagnostic)
        out.diagnostic.CopyFrom(pb.DiagnosticOptions(enabled=True, **options))
    return out
