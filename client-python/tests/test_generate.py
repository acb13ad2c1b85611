"""Generation with interventions through the Python client against a real server."""
import pytest

import patchbay

PROMPT = [5, 17, 2, 44, 9]


@pytest.fixture
def client(server_address):
    with patchbay.Client(server_address) as c:
        yield c


def test_tokens_stream_and_interventions_steer(client):
    run = client.generate("tiny-gpt2", [PROMPT, [8, 11, 2]], max_new_tokens=6, top_alternatives=2)
    tokens = [e for e in run if isinstance(e, patchbay.GeneratedToken)]
    assert len(tokens) == 12 and all(len(t.alternatives) == 2 for t in tokens)
    assert tokens[0].id == tokens[0].alternatives[0].id  # greedy takes the most likely
    watched = client.generate("tiny-gpt2", PROMPT, max_new_tokens=2, watch=[tokens[0].id, 7])
    first = next(e for e in watched if isinstance(e, patchbay.GeneratedToken))
    assert [w.id for w in first.watched] == [tokens[0].id, 7]
    assert first.watched[0].log_prob == pytest.approx(tokens[0].log_prob, abs=1e-9)
    df = run.to_dataframe()
    assert list(df.columns) == ["prompt", "step", "id", "text", "log_prob"] and len(df) == 12
    plain = run.ids(0)
    assert len(plain) == 6 and run.continuations()[0].stopped_by == "max_new_tokens"
    # Coefficient 0 changes nothing; a strong push at every position changes the continuation.
    vector = [0.5] * 32
    same = client.generate("tiny-gpt2", PROMPT, max_new_tokens=6, interventions=[
        {"site": "blocks.1.hook_resid_pre", "op": "add", "value": vector, "coefficient": 0.0}])
    assert same.ids() == plain
    steered = client.generate("tiny-gpt2", PROMPT, max_new_tokens=6, interventions=[
        {"site": "blocks.1.hook_resid_pre", "op": "add", "value": vector, "coefficient": 20.0},
        {"site": "blocks.0.attn.hook_z", "op": "zero", "units": [0, 1], "positions": "generated"}])
    assert steered.ids() != plain


def test_seeded_samples_repeat_and_stop_tokens_stop(client):
    a = client.generate("tiny-gpt2", PROMPT, max_new_tokens=8, temperature=1.5, top_k=40, seed=3).ids()
    b = client.generate("tiny-gpt2", [PROMPT, [1, 2, 3]], max_new_tokens=8, temperature=1.5, top_k=40,
                        seed=3).ids(0)
    assert a == b
    greedy = client.generate("tiny-gpt2", PROMPT, max_new_tokens=6).ids()
    stopped = client.generate("tiny-gpt2", PROMPT, max_new_tokens=6, stop=[greedy[1]])
    assert stopped.ids() == greedy[:greedy.index(greedy[1]) + 1]
    assert stopped.continuations()[0].stopped_by == "stop token"


def test_bad_interventions_are_refused(client):
    with pytest.raises(ValueError, match="op"):
        client.generate("tiny-gpt2", PROMPT, interventions=[{"site": "blocks.0.hook_resid_pre", "op": "double"}])
    with pytest.raises(patchbay.PatchbayError, match=r"interventions\[0\]\.site"):
        client.generate("tiny-gpt2", PROMPT, interventions=[{"site": "blocks.7.hook_resid_pre", "op": "zero"}]).ids()


def test_a_steering_vector_is_made_and_used_by_name(client):
    vector = client.steering_vector("tiny-gpt2", "blocks.1.hook_resid_pre", [(PROMPT, [8, 11, 2]), ([3, 4], [9, 9, 9])],
                                    name="demo")
    assert vector.shape == (32,)
    by_name = client.generate("tiny-gpt2", PROMPT, max_new_tokens=5, interventions=[
        {"site": "blocks.1.hook_resid_pre", "op": "add", "vector": "demo", "coefficient": 8}]).ids()
    by_value = client.generate("tiny-gpt2", PROMPT, max_new_tokens=5, interventions=[
        {"site": "blocks.1.hook_resid_pre", "op": "add", "value": vector.tolist(), "coefficient": 8}]).ids()
    assert by_name == by_value
    with pytest.raises(patchbay.PatchbayError, match="site"):
        client.steering_vector("tiny-gpt2", "blocks.1.attn.hook_z", [(PROMPT, PROMPT)], name="bad")


def test_a_run_left_early_still_collects_every_event(client):
    run = client.generate("tiny-gpt2", PROMPT, max_new_tokens=5)
    first = next(e for e in run if isinstance(e, patchbay.GeneratedToken))
    assert first.step == 0
    assert len(run.ids()) == 5  # the rest of the stream is read, not lost


def test_patching_from_a_source_prompt_while_generating(client):
    other = [9, 3, 30, 12, 8]
    patched = client.generate("tiny-gpt2", PROMPT, max_new_tokens=5, interventions=[
        {"site": "blocks.0.hook_resid_pre", "op": "patch", "source": other}]).ids()
    assert patched == client.generate("tiny-gpt2", other, max_new_tokens=5).ids()
    # Mean ablation over copies of one prompt is patching from it; resample over one prompt too.
    for op in ("mean", "resample"):
        ablated = client.generate("tiny-gpt2", PROMPT, max_new_tokens=5, interventions=[
            {"site": "blocks.0.hook_resid_pre", "op": op, "sources": [other, other]}]).ids()
        assert ablated == patched, op
    with pytest.raises(patchbay.PatchbayError, match=r"interventions\[0\]\.source"):
        client.generate("tiny-gpt2", PROMPT, interventions=[
            {"site": "blocks.0.hook_resid_pre", "op": "patch", "source": PROMPT + [1]}]).ids()


def test_node_names_become_interventions():
    assert patchbay.node_interventions(["L2H2", "L1N5@3", "L0.mlp"], "zero") == [
        {"site": "blocks.2.attn.hook_z", "op": "zero", "units": [2]},
        {"site": "blocks.1.mlp.hook_post", "op": "zero", "units": [5], "positions": [3]},
        {"site": "blocks.0.hook_mlp_out", "op": "zero"}]
    assert patchbay.node_interventions("L1H0.k@2", "patch", source=[1, 2, 3]) == [
        {"site": "blocks.1.attn.hook_k", "op": "patch", "source": [1, 2, 3], "units": [0]}]


def test_the_end_of_text_token_is_listed_and_can_be_ignored(client):
    # The server stops a continuation there unless told (its oracle: transformers' generate, in the Java tests).
    info = next(m for m in client.models() if m.name == "tiny-gpt2")
    assert list(info.end_of_text) == [0]
    request = patchbay.generate.request("tiny-gpt2", PROMPT, max_new_tokens=4, interventions=None, temperature=0.0,
                                        top_k=0, top_p=0.0, seed=0, stop=None, top_alternatives=0, watch=None,
                                        allow_unknown_tokens=False, ignore_eos=True)
    assert request.ignore_eos
    assert len(client.generate("tiny-gpt2", PROMPT, max_new_tokens=4, ignore_eos=True).ids()) == 4
