"""Edge attribution through the Python client against a real server."""
import asyncio

import numpy as np
import pytest

import patchbay

CLEAN = "When Mary and John went to the store, John gave a drink to"
NOISE = "When Mary and John went to the store, Mary gave a drink to"
PAIR = patchbay.Pair(CLEAN, NOISE, answer=" Mary", wrong=" John")


@pytest.fixture
def client(server_address):
    with patchbay.Client(server_address) as c:
        yield c


def test_edge_runs_stream_blocks_and_collect_into_a_dataframe_of_edges(client):
    run = client.attribute_edges("tiny-gpt2", PAIR, method="eap", verify_top_k=4)
    kinds = [type(e).__name__ for e in run]
    assert kinds[0] == "Accepted" and kinds[-1] == "Summary"
    assert kinds.index("EdgeBlock") < kinds.index("VerifiedEdge")
    blocks = run.blocks()
    assert [b.reader for b in blocks] == ["q", "k", "v", "mlp"] * 2 + ["logits"]  # tiny-gpt2: two layers
    # tiny-gpt2 has 4 heads: 1 + 2 * 5 = 11 writers in all; layer 1's heads read the 6 before it.
    assert blocks[-1].values.shape == (1, 11) and blocks[4].values.shape == (4, 6)
    df = run.to_dataframe()
    assert list(df.columns) == ["name", "writer", "reader", "kind", "layer", "position", "estimate",
                                "verified_effect"]
    assert len(df) == sum(b.values.size for b in blocks) == run.events[0].node_count
    assert (df["estimate"].abs().diff().dropna() <= 0).all(), "largest |estimate| first"
    for name in df["name"].head(20):
        assert patchbay.edge_name(patchbay.parse_edge(name)) == name
    top = run.top(4)
    assert top["name"].tolist() == df["name"].head(4).tolist()
    assert top["verified_effect"].notna().all(), "the top four were verified"
    assert [v.name for v in run.verified()] == top["name"].tolist()


def test_exact_edge_patching_gives_the_verified_effects(client):
    eap = client.attribute_edges("tiny-gpt2", PAIR, method="eap", verify_top_k=3).collect()
    exact = client.attribute_edges("tiny-gpt2", PAIR, method="exact").to_dataframe().set_index("name")
    for v in eap.verified():
        assert v.effect == pytest.approx(exact.loc[v.name, "estimate"], rel=1e-4, abs=1e-6)


def test_per_position_edges_and_the_async_client(server_address, client):
    async def run():
        async with patchbay.AsyncClient(server_address) as aclient:
            return [e async for e in aclient.attribute_edges("tiny-llama", PAIR, method="eap-ig", ig_steps=3,
                                                             per_position=True)]

    events = asyncio.run(run())
    run = patchbay.EdgeAttribution.of_events(events)
    length = len(client.tokenize("tiny-llama", CLEAN).ids)
    assert all(b.values.shape[0] == length for b in run.blocks())
    df = run.to_dataframe()
    assert set(df["position"]) == set(range(length))
    assert all(name.endswith(f"@{p}") for name, p in zip(df["name"], df["position"], strict=True))
    same = client.attribute_edges("tiny-llama", PAIR, method="eap-ig", ig_steps=3, per_position=True)
    np.testing.assert_allclose(same.to_dataframe()["estimate"], df["estimate"], rtol=1e-5, atol=1e-7)


def test_a_circuit_graph_of_the_top_edges_is_drawn(client, tmp_path):
    pytest.importorskip("matplotlib")
    from patchbay import plots

    run = client.attribute_edges("tiny-gpt2", PAIR, method="atp-star", verify_top_k=5)
    path = plots.circuit_graph(run, str(tmp_path / "circuit.png"), k=12)
    assert (tmp_path / "circuit.png").stat().st_size > 5000, path
    chosen = ["embed->logits", "L0H1->L1H0.v", "L1H0->logits"]
    plots.circuit_graph(run, str(tmp_path / "chosen.png"), edges=chosen)
    assert (tmp_path / "chosen.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="not in the run"):
        plots.circuit_graph(run, str(tmp_path / "none.png"), edges=["L9H0->logits"])
    # Over a distribution, unverified estimates have no sign (mean |effect|): drawn grey, with their own legend entry.
    spread = client.attribute_edges("tiny-gpt2", [PAIR, PAIR], method="atp-star", verify_top_k=2)
    plots.circuit_graph(spread, str(tmp_path / "spread.png"), k=8)
    assert (tmp_path / "spread.png").stat().st_size > 5000


def test_bad_edge_requests_are_refused(client):
    with pytest.raises(ValueError, match="unknown edge method"):
        client.attribute_edges("tiny-gpt2", PAIR, method="acdc")
    with pytest.raises(patchbay.PatchbayError, match="ig_steps"):
        client.attribute_edges("tiny-gpt2", PAIR, method="eap-ig", ig_steps=100000).collect()


def test_recomputing_layers_gives_the_same_edge_estimates(client):
    plain = client.attribute_edges("tiny-gpt2", PAIR, method="atp-star").collect()
    recomputed = client.attribute_edges("tiny-gpt2", PAIR, method="atp-star", recompute_layers=True).collect()
    a, b = plain.to_dataframe().set_index("name"), recomputed.to_dataframe().set_index("name")
    assert sorted(a.index) == sorted(b.index)
    # float32 on the server: the same products of the same values, summed in another order at most.
    b = b.loc[a.index]
    np.testing.assert_allclose(b["estimate"], a["estimate"], rtol=1e-4, atol=1e-5 * np.abs(a["estimate"]).max())
    assert recomputed.events[0].variant == "per-layer recomputation (asked for)" and plain.events[0].variant == ""
    with pytest.raises(patchbay.PatchbayError) as error:
        client.attribute_edges("tiny-gpt2", PAIR, method="exact", recompute_layers=True).collect()
    assert error.value.code.name == "INVALID_ARGUMENT" and "recompute_layers" in error.value.message
