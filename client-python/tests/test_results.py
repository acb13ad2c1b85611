"""Results on the client without a server: an Attribution over a stream of messages built here."""
import numpy as np
import pytest

import patchbay
from patchbay.client import Attribution
from patchbay.names import node_name
from patchbay.v1 import patchbay_pb2 as pb


class _Stream(list):
    """What a server-streaming call looks like to Attribution: an iterable of messages that can be cancelled."""

    def cancel(self):
        pass


def _response(seed=0):
    rng = np.random.default_rng(seed)
    events = [pb.AttributeEvent(accepted=pb.Accepted(request_id="r", node_count=0, method="atp"))]
    for layer in range(2):
        # Per-position neurons: 3 positions x 5 neurons, values with ties (few distinct magnitudes, both signs).
        values = rng.integers(-3, 4, size=15).astype(np.float32) / 2
        events.append(pb.AttributeEvent(block=pb.EffectBlock(
            kind=pb.NEURON, layer=layer, positions=[2, 5, 7], units=5, shape=[3, 5], values=values)))
        heads = rng.integers(-3, 4, size=4).astype(np.float32)
        events.append(pb.AttributeEvent(block=pb.EffectBlock(
            kind=pb.HEAD_OUTPUT, layer=layer, units=4, shape=[4], values=heads)))
        events.append(pb.AttributeEvent(block=pb.EffectBlock(
            kind=pb.RESIDUAL, layer=layer, positions=[0, 1], units=1, shape=[2, 1], values=[0.25, -4.0])))
    events.append(pb.AttributeEvent(verified=pb.VerifiedNode(
        rank=1, node=patchbay.parse_node("L1.resid@1"), estimate=-4.0, effect=-3.5)))
    events.append(pb.AttributeEvent(summary=pb.Summary(method="atp", pairs=1)))
    return events


def _naive_rows(events):
    """Every node with its name, the slow obvious way, in the server's canonical order."""
    rows = []
    for e in events:
        if e.HasField("block"):
            b = e.block
            positions = list(b.positions) or [-1]
            for i, value in enumerate(b.values):
                unit = 0 if b.kind in (pb.ATTN_OUT, pb.MLP_OUT, pb.RESIDUAL) else i % b.units
                rows.append((node_name(b.kind, b.layer, unit, positions[i // b.units]), unit,
                             positions[i // b.units], float(value)))
    return rows


def test_names_are_made_lazily_and_match_the_grammar():
    run = Attribution(_Stream(_response())).collect()
    effects = run.effects()
    assert effects[0].names == [r[0] for r in _naive_rows(_response())[:15]]
    assert effects[1].name(3) == "L0H3"
    assert effects[2].names == ["L0.resid@0", "L0.resid@1"]


@pytest.mark.parametrize("k", [0, 1, 5, 17, 1000])
def test_top_k_is_the_head_of_the_full_table_in_order_with_ties_in_canonical_order(k):
    full = Attribution(_Stream(_response())).to_dataframe()
    naive = sorted(_naive_rows(_response()), key=lambda r: -abs(r[3]))  # sorted() is stable
    assert list(full["name"]) == [r[0] for r in naive]
    assert list(full["unit"]) == [r[1] for r in naive]
    assert list(full["position"]) == [r[2] for r in naive]
    top = Attribution(_Stream(_response())).top(k)
    if k == 0:
        assert top.empty and list(top.columns) == list(full.columns)
    else:
        assert top.reset_index(drop=True).equals(full.head(k).reset_index(drop=True))


def test_verified_effects_join_their_rows():
    df = Attribution(_Stream(_response())).to_dataframe()
    row = df[df["name"] == "L1.resid@1"].iloc[0]
    assert row["estimate"] == -4.0 and row["verified_effect"] == -3.5
    assert df["verified_effect"].isna().sum() == len(df) - 1
