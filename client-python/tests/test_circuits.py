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
