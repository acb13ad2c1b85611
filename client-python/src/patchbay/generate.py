"""Generation with interventions: building a Generate request from plain values, and its events typed."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from patchbay import events as ev
from patchbay.requests import Prompt, TokenSpec, _prompt, _tokens
from patchbay.v1 import patchbay_pb2 as pb

OPS = {"add": pb.OP_ADD, "set": pb.OP_SET, "scale": pb.OP_SCALE, "zero": pb.OP_ZERO, "patch": pb.OP_PATCH,
       "mean": pb.OP_MEAN, "resample": pb.OP_RESAMPLE}
WHERE = {"all": pb.POSITIONS_ALL, "prompt": pb.POSITIONS_PROMPT, "generated": pb.POSITIONS_GENERATED}


@dataclass(frozen=True)
class TokenChoice:
    id: int
    text: str
    log_prob: float


@dataclass(frozen=True)
class GeneratedToken:
    """One new token of prompt ``prompt`` at step ``step``, with its log-probability and the top alternatives."""
    prompt: int
    step: int
    id: int
    text: str
    log_prob: float
    alternatives: list[TokenChoice]
    #: The request's watched tokens, with their log-probabilities at this step.
    watched: list[TokenChoice]


@dataclass(frozen=True)
class Continuation:
    """A prompt's whole continuation; ``stopped_by`` is "stop token" or "max_new_tokens"."""
    prompt: int
    ids: list[int]
    text: str
    stopped_by: str


def convert(event: pb.GenerateEvent):
    kind = event.WhichOneof("event")
    if kind == "token":
        t = event.token
        return GeneratedToken(t.prompt, t.step, t.id, t.text, t.log_prob,
                              [TokenChoice(a.id, a.text, a.log_prob) for a in t.alternatives],
                              [TokenChoice(a.id, a.text, a.log_prob) for a in t.watched])
    if kind == "continuation":
        c = event.continuation
        return Continuation(c.prompt, list(c.ids), c.text, c.stopped_by)
    wrapped = pb.AttributeEvent()
    getattr(wrapped, kind).CopyFrom(getattr(event, kind))
    return ev.convert(wrapped)


def intervention(spec: Mapping[str, Any] | pb.Intervention) -> pb.Intervention:
    """{"site": "blocks.1.hook_resid_pre", "op": "add", "value": vector, "coefficient": 2.0, "units": [heads or
    neurons], "positions": "all" | "prompt" | "generated" | [indices]}; only site and op are required. Instead of
    "value", "vector" names a steering vector made by ``Client.steering_vector``. ``{"op": "patch", "source":
    prompt}`` patches the site from the source prompt's activation at its positions (activation patching while
    generating); ``{"op": "mean" | "resample", "sources": [prompts]}`` ablates it to the prompts' mean, or to one of
    them drawn per prompt with the request's seed."""
    if isinstance(spec, pb.Intervention):
        return spec
    unknown = set(spec) - {"site", "op", "value", "vector", "source", "sources", "coefficient", "units",
                           "positions"}
    if unknown:
        raise ValueError(f"intervention: unknown keys {sorted(unknown)}; use site, op, value, vector, source,"
                         " sources, coefficient, units, positions")
    op = spec.get("op")
    if op not in OPS:
        raise ValueError(f"intervention op: {op!r}; use one of {sorted(OPS)}")
    out = pb.Intervention(site=spec["site"], op=OPS[op], units=list(spec.get("units", [])))
    value = spec.get("value")
    if value is not None:
        out.value.extend(float(v) for v in ([value] if isinstance(value, (int, float)) else list(value)))
    if "vector" in spec:
        out.vector = spec["vector"]
    if "source" in spec:
        out.source.CopyFrom(_prompt(spec["source"]))
    for source in spec.get("sources", []):
        out.sources.append(_prompt(source))
    if "coefficient" in spec:
        out.coefficient = float(spec["coefficient"])
    positions = spec.get("positions", "all")
    if isinstance(positions, str):
        if positions not in WHERE:
            raise ValueError(f"intervention positions: {positions!r}; use {sorted(WHERE)} or a list of indices")
        out.where = WHERE[positions]
    else:
        out.where = pb.POSITIONS_GIVEN
        out.positions.extend(int(p) for p in positions)
    return out


def request(model: str, prompts: Prompt | Sequence[Prompt], *, max_new_tokens: int | None, interventions,
            temperature: float,
            top_k: int, top_p: float, seed: int, stop: TokenSpec | None, top_alternatives: int,
            watch: TokenSpec | None, allow_unknown_tokens: bool, ignore_eos: bool = False) -> pb.GenerateRequest:
    """One prompt (text or token ids) or a list of them."""
    one = isinstance(prompts, str) or (isinstance(prompts, Sequence) and bool(prompts)
                                       and isinstance(prompts[0], int))
    items: list[Any] = [prompts] if one else list(prompts)
    if not items:
        raise ValueError("prompts: at least one prompt is needed")
    return pb.GenerateRequest(
        model=model, prompts=[_prompt(p) for p in items], max_new_tokens=max_new_tokens or 0,
        stop=_tokens(stop) if stop is not None else [], temperature=temperature, top_k=top_k, top_p=top_p,
        seed=seed, interventions=[intervention(i) for i in (interventions or [])],
        top_alternatives=top_alternatives, watch=_tokens(watch) if watch is not None else [],
        allow_unknown_tokens=allow_unknown_tokens, ignore_eos=ignore_eos)


#: The hook site of each node kind (TransformerLens names), for ``node_interventions``.
_NODE_SITES = {pb.HEAD_OUTPUT: "attn.hook_z", pb.QUERY: "attn.hook_q", pb.KEY: "attn.hook_k", pb.VALUE: "attn.hook_v",
               pb.NEURON: "mlp.hook_post", pb.ATTN_OUT: "hook_attn_out", pb.MLP_OUT: "hook_mlp_out",
               pb.RESIDUAL: "hook_resid_pre"}


def node_interventions(nodes, op: str, **fields) -> list[dict]:
    """Interventions on nodes named as Attribute names them (e.g. ``run.top(3)["name"]``: "L2H2", "L1H1.q@4",
    "L3N17", "L2.mlp"), each with ``op`` and the other fields (``source`` for "patch", ``sources`` for "mean" and
    "resample", ``value``/``coefficient`` for "add"...). A node at one position reaches that position only (patch,
    mean and resample use their sources' positions)."""
    from patchbay.names import parse_node

    out = []
    for name in ([nodes] if isinstance(nodes, str) else list(nodes)):
        node = parse_node(name)
        spec: dict[str, Any] = {"site": f"blocks.{node.layer}.{_NODE_SITES[node.kind]}", "op": op, **fields}
        if node.kind in (pb.HEAD_OUTPUT, pb.QUERY, pb.KEY, pb.VALUE, pb.NEURON):
            spec["units"] = [node.unit]
        if node.position >= 0 and op not in ("patch", "mean", "resample"):
            spec["positions"] = [node.position]
        out.append(spec)
    return out


READINGS = {"last": pb.READING_LAST_TOKEN, "mean": pb.READING_MEAN_OVER_POSITIONS}


def steering_request(model: str, site: str, pairs, *, name: str, reading: str,
                     allow_unknown_tokens: bool) -> pb.SteeringVectorRequest:
    """pairs: (positive, negative) prompts, text or token ids."""
    if reading not in READINGS:
        raise ValueError(f"reading: {reading!r}; use one of {sorted(READINGS)}")
    contrasts = [pb.ContrastPair(positive=_prompt(pos), negative=_prompt(neg)) for pos, neg in pairs]
    if not contrasts:
        raise ValueError("pairs: at least one (positive, negative) pair is needed")
    return pb.SteeringVectorRequest(model=model, site=site, pairs=contrasts, reading=READINGS[reading], name=name,
                                    allow_unknown_tokens=allow_unknown_tokens)
