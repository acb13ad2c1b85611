"""Feature attribution through the client (``attribute(nodes="features")``) against the golden file that
transformers made with the same dictionaries (testdata/golden/features.json), its frames, and its refusals."""
import json
import math
import pathlib

import numpy as np
import pytest
from conftest import DICTIONARIES

from patchbay import Client, FeatureAttribution, Pair, PatchbayError, parse_feature

GOLDEN = json.loads((pathlib.Path(__file__).resolve().parents[2] / "testdata" / "golden" / "features.json")
                    .read_text())


@pytest.fixture(scope="module")
def client(server_address):
    with Client(server_address) as c:
        yield c


def golden_pairs():
    runs = GOLDEN["models"]["tiny-gpt2"][0]["runs"]
    return [Pair(r["clean"], r["noise"], GOLDEN["answer"], GOLDEN["wrong"]) for r in runs]


def test_the_model_lists_its_dictionaries(client):
    model = next(m for m in client.models() if m.name == "tiny-gpt2")
    assert [d.name for d in model.dictionaries] == list(DICTIONARIES)
    assert model.dictionaries[2].input_site == "blocks.1.hook_mlp_in"
    assert model.dictionaries[2].site == "blocks.1.hook_mlp_out"


def test_atp_over_features_matches_transformers_per_pair(client):
    run = client.attribute("tiny-gpt2", golden_pairs(), nodes="features", method="atp")
    assert isinstance(run, FeatureAttribution)
    frame = run.pair_frame()
    for entry in GOLDEN["models"]["tiny-gpt2"]:
        for p, golden in enumerate(entry["runs"]):
            mine = frame[(frame["dictionary"] == entry["name"]) & (frame["pair"] == p)]
            got = {(t, f): v for t, f, v in zip(mine["position"], mine["feature"], mine["estimate"], strict=True)}
            scale = max(abs(v) for _, _, v in golden["atp"])
            # The server computes in float32: a feature within float32's rounding of its threshold may be listed on one
            # side only, with an estimate that small; every other golden entry is here to float32's accuracy.
            for t, f, v in golden["atp"]:
                if (t, f) in got:
                    assert got[(t, f)] == pytest.approx(v, abs=1e-4 * scale)
                else:
                    assert abs(v) < 1e-4 * scale
            errors = mine[mine["feature"] == -1].sort_values("position")["estimate"].to_numpy()
            np.testing.assert_allclose(errors, golden["error_atp"], atol=1e-4 * scale)


def test_the_frame_ranks_by_the_mean_over_pairs_and_names_each_node(client):
    run = client.attribute("tiny-gpt2", golden_pairs(), nodes="features", method="atp", verify_top_k=4,
                           diagnostic={"samples": 16})
    frame = run.to_dataframe()
    assert list(frame.columns) == ["name", "dictionary", "layer", "site", "feature", "position", "estimate",
                                   "verified_effect"]
    magnitudes = frame["estimate"].abs().to_numpy()
    assert (magnitudes[:-1] >= magnitudes[1:]).all()
    for name, site, feature, position in zip(frame["name"][:20], frame["site"][:20], frame["feature"][:20],
                                             frame["position"][:20], strict=True):
        node = parse_feature(name)
        assert (node.site, node.feature, node.position) == (site, feature, position)
    top = run.top(4)
    assert top["verified_effect"].notna().all()
    assert [v.rank for v in sorted(run.verified(), key=lambda v: v.rank)] == [1, 2, 3, 4]
    assert {d.dictionary for d in run.diagnostics()} == set(DICTIONARIES)
    assert not run.summary.magnitudes


def test_atp_star_gives_magnitudes_over_the_named_dictionary(client):
    run = client.attribute("tiny-gpt2", golden_pairs()[:1], nodes="features", dictionaries="z-jumprelu")
    frame = run.to_dataframe()
    assert set(frame["dictionary"]) == {"z-jumprelu"}
    assert (frame["estimate"] >= 0).all()
    assert run.summary.magnitudes and run.summary.method == "atp-star"
    assert not math.isnan(run.summary.clean_metric)


def test_refusals(client):
    with pytest.raises(ValueError, match="method"):
        client.attribute("tiny-gpt2", golden_pairs(), nodes="features", method="eap")
    with pytest.raises(PatchbayError, match="dictionaries: no dictionary 'nope'"):
        client.attribute("tiny-gpt2", golden_pairs(), nodes="features", dictionaries=["nope"]).collect()
    with pytest.raises(PatchbayError, match="--dictionary"):
        client.attribute("tiny-llama", [Pair([1, 5, 9], [1, 6, 9], 11, 40)], nodes="features").collect()
    with pytest.raises(ValueError, match="dictionaries"):
        client.attribute("tiny-gpt2", golden_pairs(), dictionaries=["resid-relu"])


def test_the_async_client_streams_the_same_events(server_address):
    import asyncio

    from patchbay import AsyncClient

    async def collect():
        async with AsyncClient(server_address) as c:
            return [e async for e in c.attribute("tiny-gpt2", golden_pairs(), nodes="features", method="atp")]

    events = asyncio.run(collect())
    frame = FeatureAttribution.of_events(events).to_dataframe()
    with Client(server_address) as c:
        expected = c.attribute("tiny-gpt2", golden_pairs(), nodes="features", method="atp").to_dataframe()
    assert frame["name"].tolist() == expected["name"].tolist()
    np.testing.assert_allclose(frame["estimate"], expected["estimate"], rtol=1e-6)


def test_the_position_figure_has_a_row_per_dictionary_rank_and_error_term(client, tmp_path):
    pytest.importorskip("matplotlib")
    from patchbay import plots

    run = client.attribute("tiny-gpt2", golden_pairs(), nodes="features", method="atp", verify_top_k=3)
    figure = plots.feature_positions(run, None, k=2)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == [f"{d}: {r}" for d in DICTIONARIES for r in ("top 1", "top 2", "error")]
    path = plots.feature_positions(run, str(tmp_path / "features.png"), k=1)
    assert pathlib.Path(path).stat().st_size > 1000
    # Each verified node shown is outlined; the three verified are each some dictionary's top 2 at its position.
    assert 1 <= len(figure.axes[0].patches) <= 3


def test_a_sweep_runs_feature_jobs_beside_component_jobs(client):
    from patchbay import FeatureBlock, Summary

    pairs = golden_pairs()
    events = list(client.sweep([
        ("features", {"model": "tiny-gpt2", "pairs": pairs, "nodes": "features", "method": "atp"}),
        ("heads", {"model": "tiny-gpt2", "pairs": pairs, "method": "atp"}),
        ("bad", {"model": "tiny-gpt2", "pairs": pairs, "nodes": "features", "dictionaries": ["nope"]}),
    ]))
    features = [e for job, e in events if job == "features"]
    assert sum(isinstance(e, FeatureBlock) for e in features) == len(pairs) * len(DICTIONARIES)
    assert isinstance(features[-1], Summary)
    assert any(isinstance(e, Summary) for job, e in events if job == "heads")
    assert any(isinstance(e, PatchbayError) and "nope" in e.message for job, e in events if job == "bad")
    with pytest.raises(ValueError, match="recompute_layers"):
        list(client.sweep([("x", {"model": "tiny-gpt2", "pairs": pairs, "nodes": "features",
                                  "recompute_layers": True})]))


def test_integrated_gradients_match_transformers(client):
    steps = GOLDEN["ig_steps"]
    run = client.attribute("tiny-gpt2", golden_pairs(), nodes="features", method="ig", ig_steps=steps)
    assert run.summary.method == "ig" and not run.summary.magnitudes
    frame = run.pair_frame()
    for entry in GOLDEN["models"]["tiny-gpt2"]:
        for p, golden in enumerate(entry["runs"]):
            mine = frame[(frame["dictionary"] == entry["name"]) & (frame["pair"] == p)]
            got = {(t, f): v for t, f, v in zip(mine["position"], mine["feature"], mine["estimate"], strict=True)}
            scale = max(abs(v) for _, _, v in golden["ig"])
            for t, f, v in golden["ig"]:
                # float32 on the server: as for AtP above.
                assert got.get((t, f), 0.0) == pytest.approx(v, abs=1e-4 * scale)
    with pytest.raises(ValueError, match="ig_steps"):
        client.attribute("tiny-gpt2", golden_pairs(), method="atp", ig_steps=5)


def test_feature_edges_are_estimated_between_dictionaries_and_the_largest_verified(client):
    golden = next(e for e in GOLDEN["edges"]["tiny-gpt2"] if e["upstream"] == "z-jumprelu")
    run = client.attribute("tiny-gpt2", golden_pairs()[:1], nodes="features", method="atp",
                           dictionaries=["z-jumprelu", "resid-relu"], edge_nodes=4, verify_edges=3)
    edges = run.edges()
    assert list(edges.columns) == ["pair", "upstream", "downstream", "name", "from", "to", "estimate",
                                   "verified_effect"]
    mine = edges[(edges["upstream"] == "z-jumprelu") & (edges["downstream"] == "resid-relu")]
    assert len(mine) == len(golden["edges"])
    scale = max(abs(e[4]) for e in golden["edges"])
    by_name = dict(zip(mine["name"], mine["estimate"], strict=True))

    def name(u, t, d, s):  # feature -1 is the error term
        return (f"L0.z.{'err' if u < 0 else f'f{u}'}@{t}->L1.resid_pre.{'err' if d < 0 else f'f{d}'}@{s}")

    for u, t, d, s, value in golden["edges"]:
        # float32 on the server, as above.
        assert by_name[name(u, t, d, s)] == pytest.approx(value, abs=1e-4 * scale)
    verified = mine[mine["verified_effect"].notna()]
    assert len(verified) == 3
    exact = {name(u, t, d, s): value for u, t, d, s, value in golden["exact_edges"]}
    for name, effect in zip(verified["name"], verified["verified_effect"], strict=True):
        assert effect == pytest.approx(exact[name], abs=1e-4 * scale)
    with pytest.raises(PatchbayError, match="verify_edges: needs edges"):
        client.attribute("tiny-gpt2", golden_pairs()[:1], nodes="features", verify_edges=2).collect()
    with pytest.raises(PatchbayError, match="edge_nodes: edges join two dictionaries"):
        client.attribute("tiny-gpt2", golden_pairs()[:1], nodes="features", dictionaries=["z-jumprelu"],
                         edge_nodes=2).collect()
