"""Circuit evaluation through the Python client against a real server."""
import pytest

import patchbay

PAIRS = [
    patchbay.Pair("When Mary and John went to the store, John gave a drink to",
                  "When Mary and John went to the store, Mary gave a drink to", answer=" Mary", wrong=" John"),
    patchbay.Pair("When John and Mary went to the store, Mary gave a drink to",
                  "When John and Mary went to the store, John gave a drink to", answer=" John", wrong=" Mary"),
]


@pytest.fixture
def client(server_address):
    with patchbay.Client(server_address) as c:
        yield c


def test_a_prune_curve_runs_from_nothing_to_the_full_model(client, tmp_path):
    run = client.evaluate_circuit("tiny-gpt2", PAIRS, ablation="mean", ranking="eap")
    df = run.to_dataframe()
    edges = client.attribute_edges("tiny-gpt2", PAIRS[0], method="eap").collect().events[0].node_count
    assert list(df.columns) == ["name", "size", "faithfulness", "low", "high"]
    assert df["size"].iloc[0] == 0 and df["size"].iloc[-1] == edges
    assert df["faithfulness"].iloc[0] == 0.0 and df["faithfulness"].iloc[-1] == 1.0
    assert (df["low"] <= df["faithfulness"]).all() and (df["faithfulness"] <= df["high"]).all()
    pytest.importorskip("matplotlib")
    from patchbay import plots

    plots.prune_curve(run, str(tmp_path / "prune.png"))
    assert (tmp_path / "prune.png").stat().st_size > 5000


def test_named_circuits_from_an_edge_run(client):
    top = client.attribute_edges("tiny-gpt2", PAIRS[0], method="atp-star").top(10)["name"].tolist()
    run = client.evaluate_circuit("tiny-gpt2", PAIRS[0], circuits={"top 10": top, "none": []}, ablation="noise")
    points = {p.name: p for p in run.points()}
    assert points["top 10"].size == 10 and points["none"].faithfulness == 0.0
    with pytest.raises(patchbay.PatchbayError, match=r"circuits\[0\]\.edges\[0\]"):
        client.evaluate_circuit("tiny-gpt2", PAIRS[0], circuits=[["L9H9->logits"]], ablation="zero").collect()
    with pytest.raises(ValueError, match="unknown 'bogus'"):
        client.evaluate_circuit("tiny-gpt2", PAIRS[0], circuits=[[]], ablation="bogus")


def test_a_circuit_is_discovered_and_reaches_its_target(client):
    run = client.discover_circuit("tiny-gpt2", PAIRS, search="greedy", ranking="eap", target=0.8, ablation="mean")
    steps = run.to_dataframe()
    assert list(steps.columns) == ["stage", "edge", "size", "faithfulness", "kept"]
    assert set(steps["stage"]) <= {"prefix", "prune"} and len(steps) > 0
    found = run.circuit
    assert found is not None and len(found.edges) > 0 and abs(1 - found.faithfulness) <= 0.2 + 1e-9
    check = client.evaluate_circuit("tiny-gpt2", PAIRS, circuits=[found.edges], ablation="mean").points()[0]
    assert check.faithfulness == pytest.approx(found.faithfulness, abs=1e-5)
    with pytest.raises(ValueError, match="unknown 'beam'"):
        client.discover_circuit("tiny-gpt2", PAIRS, search="beam")


def test_a_hypothesis_is_scrubbed(client):
    # Claiming every writer depends on the input itself (a label per input) rebuilds each input exactly.
    writers = ["embed"] + [f"L{layer}H{head}" for layer in (0, 1) for head in range(4)] + ["L0.mlp", "L1.mlp"]
    identity = {part: list(range(len(PAIRS))) for part in writers}
    run = client.scrub("tiny-gpt2", PAIRS, identity, samples=6, seed=1)
    df = run.to_dataframe()
    assert list(df.columns) == ["index", "pair", "original", "scrubbed", "resampled"]
    assert len(df) == 6 and list(df["pair"]) == [0, 1, 0, 1, 0, 1]
    assert (df["scrubbed"] - df["original"]).abs().max() < 1e-4
    assert "L0H0->L1H1.q" in run.result.edges and run.result.runs_per_sample > 2
    nothing = client.scrub("tiny-gpt2", PAIRS, {}, samples=4).to_dataframe()
    assert (nothing["scrubbed"] - nothing["resampled"]).abs().max() < 1e-4
    with pytest.raises(patchbay.PatchbayError, match=r"claims\[0\]\.part"):
        client.scrub("tiny-gpt2", PAIRS, {"L7H0": ["a", "b"]}).collect()
    with pytest.raises(ValueError, match="1 labels for 2 pairs"):
        client.scrub("tiny-gpt2", PAIRS, {"L0H0": ["a"]})
