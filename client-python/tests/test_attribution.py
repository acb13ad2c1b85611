"""The attribution API of the Python client against a real server."""
import asyncio
import math

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


def test_events_stream_in_order_and_collect_into_a_dataframe(client):
    run = client.attribute("tiny-gpt2", PAIR, method="atp-star", nodes="heads", verify_top_k=3)
    kinds = [type(e).__name__ for e in run]
    assert kinds[0] == "Accepted" and kinds[-1] == "Summary"
    assert kinds.index("Effects") < kinds.index("Verified")
    blocks = run.effects()
    assert [b.values.shape for b in blocks] == [(4,), (4,)]  # two layers, four heads over all positions
    assert blocks[1].names == ["L1H0", "L1H1", "L1H2", "L1H3"]
    df = run.to_dataframe()
    assert list(df.columns) == ["name", "site", "layer", "unit", "position", "estimate", "verified_effect"]
    assert len(df) == 8
    assert (df["estimate"].abs().diff().dropna() <= 0).all(), "largest |estimate| first"
    top = run.top(3)
    assert top["verified_effect"].notna().all(), "the top three were verified"
    assert df["verified_effect"].isna().sum() == 5
    assert run.summary.method == "atp-star" and run.summary.forward_passes > 0


def test_per_position_blocks_are_arrays_with_node_names(client):
    run = client.attribute("tiny-llama", PAIR, method="atp-qk", nodes="attention").collect()
    keys = next(b for b in run.effects() if b.site == "k" and b.layer == 1)
    assert keys.values.shape == (len(keys.positions), 2)  # two key/value heads under GQA
    assert keys.names[3] == f"L1H1.k@{keys.positions[1]}"
    assert np.isfinite(keys.values).all()


def test_a_progress_bar_does_not_change_results(client, capsys):
    pytest.importorskip("tqdm", reason="tqdm is in the test extras; without it there is no bar to test")
    quiet = client.attribute("tiny-gpt2", PAIR, method="ap", nodes="heads").to_dataframe()
    assert "step" not in capsys.readouterr().err
    shown = client.attribute("tiny-gpt2", PAIR, method="ap", nodes="heads", progress=True).to_dataframe()
    assert "step" in capsys.readouterr().err, "the bar was drawn"
    assert quiet.equals(shown)


def test_the_async_client_streams_the_same_events(server_address):
    async def run():
        async with patchbay.AsyncClient(server_address) as client:
            first, second = await asyncio.gather(
                collect(client.attribute("tiny-gpt2", PAIR, method="atp")),
                collect(client.attribute("tiny-gpt2", PAIR, method="atp-qk")))
            return first, second

    async def collect(stream):
        return [e async for e in stream]

    first, second = asyncio.run(run())
    assert isinstance(first[-1], patchbay.Summary) and first[-1].method == "atp"
    assert isinstance(second[-1], patchbay.Summary) and second[-1].method == "atp-qk"


def test_patch_matches_activation_patching(client):
    ap = client.attribute("tiny-gpt2", PAIR, method="ap", nodes="heads").to_dataframe().set_index("name")
    results = list(client.patch("tiny-gpt2", PAIR, [["L1H2"], ["L1H2", "L0N5@3"]]))
    assert [r.group for r in results] == ["L1H2", "L1H2+L0N5@3"]
    assert math.isclose(results[0].effect, ap.loc["L1H2", "estimate"], abs_tol=1e-5)


def test_sweep_tags_events_and_reports_a_failed_job(client):
    jobs = [(f"job{i}", dict(model="tiny-gpt2", pairs=PAIR, method="atp")) for i in range(5)]
    jobs.append(("broken", dict(model="missing", pairs=PAIR)))
    summaries, errors = set(), {}
    for job_id, event in client.sweep(iter(jobs)):
        if isinstance(event, patchbay.PatchbayError):
            errors[job_id] = event
        elif isinstance(event, patchbay.Summary):
            summaries.add(job_id)
    assert summaries == {f"job{i}" for i in range(5)}
    assert errors["broken"].code.name == "NOT_FOUND"


def test_a_sweep_carries_any_operation_and_each_job_gets_what_its_own_call_gives(client):
    jobs = [
        ("edges", dict(operation="attribute_edges", model="tiny-gpt2", pairs=PAIR, method="eap")),
        ("generate", dict(operation="generate", model="tiny-gpt2", prompts=CLEAN, max_new_tokens=3)),
        ("patch", dict(operation="patch", model="tiny-gpt2", pairs=PAIR, groups=[["L1H2"]])),
        ("heads", dict(model="tiny-gpt2", pairs=PAIR, method="atp")),
    ]
    by_job = {}
    for job_id, event in client.sweep(iter(jobs)):
        by_job.setdefault(job_id, []).append(event)
    alone = client.attribute_edges("tiny-gpt2", PAIR, method="eap").collect()
    swept = [e for e in by_job["edges"] if isinstance(e, patchbay.edges.EdgeBlock)]
    assert len(swept) == len(alone.blocks()) > 0
    for a, b in zip(alone.blocks(), swept, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
    continuation = [e for e in by_job["generate"] if isinstance(e, patchbay.generate.Continuation)]
    assert continuation[0].ids == client.generate("tiny-gpt2", CLEAN, max_new_tokens=3).ids()
    results = [e for e in by_job["patch"] if not isinstance(e, (patchbay.Accepted, patchbay.Summary))]
    assert [r.group for r in results] == ["L1H2"]
    assert results[0].effect == next(iter(client.patch("tiny-gpt2", PAIR, [["L1H2"]]))).effect
    assert isinstance(by_job["heads"][-1], patchbay.Summary)
    with pytest.raises(ValueError, match="operation: unknown 'magic'"):
        list(client.sweep(iter([("x", dict(operation="magic", model="tiny-gpt2"))])))


def test_recomputing_layers_gives_the_same_estimates(client):
    plain = client.attribute("tiny-gpt2", PAIR, method="atp-qk", nodes="all").collect()
    recomputed = client.attribute("tiny-gpt2", PAIR, method="atp-qk", nodes="all", recompute_layers=True).collect()
    a, b = plain.to_dataframe(), recomputed.to_dataframe()
    assert list(a["name"]) == list(b["name"])
    # float32 on the server: the same products of the same values, summed in another order at most.
    np.testing.assert_allclose(b["estimate"], a["estimate"], rtol=1e-4, atol=1e-5 * np.abs(a["estimate"]).max())
    assert recomputed.summary.compute_forward_equivalents > plain.summary.compute_forward_equivalents
    assert recomputed.events[0].variant == "per-layer recomputation (asked for)" and plain.events[0].variant == ""
    with pytest.raises(patchbay.PatchbayError) as error:
        client.attribute("tiny-gpt2", PAIR, method="ap", recompute_layers=True).collect()
    assert error.value.code.name == "INVALID_ARGUMENT" and "recompute_layers" in error.value.message


def test_plots_are_written(client, tmp_path):
    from patchbay import plots

    run = client.attribute("tiny-gpt2", PAIR, nodes="heads", verify_top_k=4).collect()
    assert plots.head_matrix(run).shape == (2, 4)
    signed = client.attribute("tiny-gpt2", PAIR, method="atp-qk", nodes="heads").collect()
    for path in (plots.head_heatmap(run, str(tmp_path / "heads.png")),
                 plots.head_heatmap(signed, str(tmp_path / "signed.png")),
                 plots.verified_bars(run, str(tmp_path / "verified.png")),
                 plots.verified_scatter(run, str(tmp_path / "scatter.png"))):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_errors_carry_the_servers_status_and_message(client):
    with pytest.raises(patchbay.PatchbayError) as error:
        client.attribute("tiny-gpt2", patchbay.Pair(CLEAN, "Hi", " Mary", " John")).collect()
    assert error.value.code.name == "INVALID_ARGUMENT"
    assert "pairs[0]" in error.value.message
    with pytest.raises(ValueError):
        client.attribute("tiny-gpt2", PAIR, method="magic")


def test_baselines_take_their_settings(client):
    run = client.attribute("tiny-gpt2", PAIR, method="subsampling", baseline={"samples": 30, "seed": 3}).collect()
    assert run.summary.method == "subsampling" and run.summary.forward_passes == 2 + 30
    assert len(run.to_dataframe()) == 8


def test_the_false_negative_diagnostic_streams_after_verification(client):
    run = client.attribute("tiny-gpt2", PAIR, nodes="heads", verify_top_k=3,
                           diagnostic={"samples": 40, "inclusion_probability": 0.3}).collect()
    kinds = [type(e).__name__ for e in run.events]
    assert kinds.index("Verified") < kinds.index("Diagnostic") < kinds.index("Summary")
    diagnostic = next(e for e in run.events if isinstance(e, patchbay.Diagnostic))
    assert diagnostic.nodes == 8 - 3 and diagnostic.forward_passes == 2 + 40
    verified = [e for e in run.events if isinstance(e, patchbay.Verified)]
    assert diagnostic.threshold == pytest.approx(0.1 * max(abs(v.effect) for v in verified))
    # Exact patching of each unverified head (an oracle outside the diagnostic): a head whose true effect is
    # well above the threshold must be flagged for verification. (Each bound holds with probability 1 - alpha
    # per node, so a true effect may exceed its own bound: L1H3 does here, and it is flagged.)
    unverified = {f"L{layer}H{head}" for layer in range(2) for head in range(4)} - {v.name for v in verified}
    flagged = {name for name, _ in diagnostic.flagged}
    for result in client.patch("tiny-gpt2", PAIR, [[name] for name in sorted(unverified)]):
        if abs(result.effect) >= 2 * diagnostic.threshold:
            assert result.group in flagged, result.group


def test_a_sweep_job_can_ask_for_the_diagnostic(client):
    # It raised TypeError: the sweep passed every job key to a function without a diagnostic parameter.
    jobs = [("d", dict(model="tiny-gpt2", pairs=PAIR, nodes="heads", verify_top_k=3, progress=True,
                       diagnostic={"samples": 20, "inclusion_probability": 0.3}))]
    events = [event for _, event in client.sweep(iter(jobs))]
    assert any(isinstance(e, patchbay.Diagnostic) for e in events)
    assert isinstance(events[-1], patchbay.Summary)


def test_the_async_client_has_the_sync_clients_calls(server_address, client):
    async def run():
        async with patchbay.AsyncClient(server_address) as aclient:
            tokens = await aclient.tokenize("tiny-gpt2", CLEAN)
            patched = [r async for r in aclient.patch("tiny-gpt2", PAIR, [["L1H2"]])]
            swept = [(i, e) async for i, e in aclient.sweep([("a", dict(model="tiny-gpt2", pairs=PAIR))])]
            verified = [e async for e in aclient.attribute("tiny-gpt2", PAIR, verify_top_k=2, verify_budget=50,
                                                          diagnostic={"samples": 20})]
            metrics = await aclient.metrics()
            return tokens, patched, swept, verified, metrics

    tokens, patched, swept, verified, metrics = asyncio.run(run())
    assert tokens.ids == client.tokenize("tiny-gpt2", CLEAN).ids
    assert patched[0].effect == pytest.approx(next(client.patch("tiny-gpt2", PAIR, [["L1H2"]])).effect)
    assert isinstance(swept[-1][1], patchbay.Summary) and swept[-1][0] == "a"
    assert any(isinstance(e, patchbay.Diagnostic) for e in verified)
    assert metrics.calls_by_status["OK"] > 0


def test_the_async_client_takes_every_option_of_the_sync_client():
    import inspect

    public = [n for n, f in inspect.getmembers(patchbay.Client, inspect.isfunction) if not n.startswith("_")]
    assert {"models", "nodes", "tokenize", "attribute", "patch", "sweep", "metrics", "close"} <= set(public)
    for name in public:
        sync = inspect.signature(getattr(patchbay.Client, name)).parameters
        asynchronous = inspect.signature(getattr(patchbay.AsyncClient, name)).parameters
        assert list(asynchronous) == list(sync), name
        for parameter in sync:
            assert asynchronous[parameter].default == sync[parameter].default, f"{name}({parameter})"


def test_the_async_client_lists_nodes_and_shows_progress(server_address, client, capsys):
    async def run():
        async with patchbay.AsyncClient(server_address) as aclient:
            nodes = await aclient.nodes("tiny-llama", {"kinds": ["k"], "per_position": True}, positions=[0, 1])
            events = [e async for e in aclient.attribute("tiny-gpt2", PAIR, nodes="heads", progress=True)]
            return nodes, events

    nodes, events = asyncio.run(run())
    assert nodes == client.nodes("tiny-llama", {"kinds": ["k"], "per_position": True}, positions=[0, 1])
    run = patchbay.Attribution.of_events(events)
    assert run.to_dataframe()["name"].tolist() == client.attribute("tiny-gpt2", PAIR).to_dataframe()["name"].tolist()
    assert "step" in capsys.readouterr().err
