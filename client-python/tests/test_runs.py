"""Node listings, saved runs and TransformerLens-shaped arrays."""
import numpy as np
import pandas as pd
import pytest

import patchbay
from patchbay import events as ev
from patchbay.runs import list_nodes
from patchbay.v1 import patchbay_pb2 as pb

LLAMA = pb.ModelInfo(name="tiny-llama", n_layers=2, n_heads=4, n_kv_heads=2, d_mlp=64)
CLEAN = "When Mary and John went to the store, John gave a drink to"
NOISE = "When Mary and John went to the store, Mary gave a drink to"
PAIR = patchbay.Pair(CLEAN, NOISE, answer=" Mary", wrong=" John")


def test_heads_are_listed_by_layer_and_head():
    nodes = list_nodes(LLAMA, "heads")
    assert [n.name for n in nodes] == [f"L{layer}H{h}" for layer in range(2) for h in range(4)]
    assert nodes[5] == patchbay.NodeInfo("L1H1", "z", 1, 1, -1)


def test_keys_and_values_are_per_key_value_head():
    nodes = list_nodes(LLAMA, {"kinds": ["k", "post"], "layers": [1], "per_position": True}, positions=[0, 3])
    keys = [n for n in nodes if n.kind == "k"]
    assert [n.name for n in keys] == ["L1H0.k@0", "L1H1.k@0", "L1H0.k@3", "L1H1.k@3"]
    assert sum(n.kind == "post" for n in nodes) == 2 * 64


def test_per_position_nodes_need_positions_and_typos_name_the_valid_kinds():
    with pytest.raises(ValueError, match="positions"):
        list_nodes(LLAMA, "attention")
    with pytest.raises(ValueError, match=r"unknown kind 'zz'.*'q', 'k', 'v', 'z', 'post'"):
        list_nodes(LLAMA, {"kinds": ["zz"]})
    with pytest.raises(ValueError, match="unknown 'headz'"):
        list_nodes(LLAMA, "headz")
    with pytest.raises(ValueError, match=r"unknown keys \['kind'\]"):
        list_nodes(LLAMA, {"kind": ["z"]})
    with pytest.raises(ValueError, match="outside the model's 2"):
        list_nodes(LLAMA, {"kinds": ["z"], "layers": [2]})


def _events():
    return [
        ev.Accepted("r1", 16, 4.0, "atp-star", "logit_diff"),
        ev.Effects("z", 0, [], np.array([0.5, -1.0, 0.25, 2.0], dtype=np.float32), pb.HEAD_OUTPUT),
        ev.Effects("z", 1, [], np.array([-3.0, 0.0, 1.5, 0.125], dtype=np.float32), pb.HEAD_OUTPUT),
        ev.Effects("q", 1, [2, 5], np.arange(8, dtype=np.float32).reshape(2, 4), pb.QUERY),
        ev.Verified(1, "L1H0", "z", 1, 0, -1, -3.0, -2.5),
        ev.Diagnostic(12, 0.5, 0.1, 0.05, [("L0H3", 0.5)], 0.01, 24.0),
        ev.Summary("atp-star", "logit_diff", 1, 3.0, -1.0, 4.0, 6.5, 0.2, 0, 1, 0),
    ]


def test_a_saved_run_reads_back_event_for_event(tmp_path):
    run = patchbay.Attribution.of_events(_events())
    run.save(tmp_path / "run.npz")
    back = patchbay.load_run(tmp_path / "run.npz")
    assert [type(e) for e in back.events] == [type(e) for e in run.events]
    for a, b in zip(run.events, back.events, strict=True):
        if isinstance(a, ev.Effects):
            assert (a.site, a.layer, a.positions, a.kind) == (b.site, b.layer, b.positions, b.kind)
            np.testing.assert_array_equal(a.values, b.values)
            assert a.values.dtype == b.values.dtype
        else:
            assert a == b
    pd.testing.assert_frame_equal(run.to_dataframe(), back.to_dataframe())


def test_a_file_that_is_not_a_run_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", meta=np.array('{"format": "something"}'))
    with pytest.raises(ValueError, match="not a saved Patchbay run"):
        patchbay.load_run(tmp_path / "other.npz")


def test_arrays_are_shaped_as_transformer_lens_shapes_them():
    run = patchbay.Attribution.of_events(_events())
    heads = run.as_array("z")
    assert heads.shape == (2, 4)
    np.testing.assert_array_equal(heads[1], [-3.0, 0.0, 1.5, 0.125])
    queries = run.as_array("q")
    assert queries.shape == (2, 4, 2)  # [layer, head, position]
    assert np.isnan(queries[0]).all(), "layer 0 was not scored"
    np.testing.assert_array_equal(queries[1, :, 1], [4, 5, 6, 7])
    with pytest.raises(ValueError, match="has no 'post' nodes"):
        run.as_array("post")


def test_a_real_run_saves_loads_and_lists_the_nodes_it_scored(server_address, tmp_path):
    with patchbay.Client(server_address) as client:
        run = client.attribute("tiny-llama", PAIR, method="atp-qk", nodes="attention", verify_top_k=2).collect()
        tokens = client.tokenize("tiny-llama", CLEAN)
        listed = client.nodes("tiny-llama", "attention", positions=range(len(tokens.ids)))
    run.save(tmp_path / "real")
    back = patchbay.load_run(tmp_path / "real.npz")
    pd.testing.assert_frame_equal(run.to_dataframe(), back.to_dataframe())
    assert sorted(n.name for n in listed) == sorted(run.to_dataframe()["name"])
    assert run.as_array("k").shape == (2, 2, len(tokens.ids))
