"""The Python client against a real server over loopback."""
import json
import pathlib

import grpc
import pytest

import patchbay

GOLDEN = pathlib.Path(__file__).resolve().parents[2] / "testdata" / "golden"


@pytest.fixture
def client(server_address):
    with patchbay.Client(server_address) as c:
        yield c


def test_models_lists_shapes_and_hook_sites(client):
    models = {m.name: m for m in client.models()}
    assert sorted(models) == ["tiny-gpt2", "tiny-llama"]
    llama = models["tiny-llama"]
    assert (llama.architecture, llama.n_layers, llama.n_heads, llama.n_kv_heads) == ("llama", 2, 4, 2)
    assert "blocks.0.attn.hook_z" in llama.hook_sites
    assert "hook_pos_embed" in models["tiny-gpt2"].hook_sites


def test_tokenize_matches_transformers(client):
    golden = json.loads((GOLDEN / "tiny-llama.json").read_text())
    prompt = golden["prompts"][0]
    tokens = client.tokenize("tiny-llama", prompt["text"])
    assert tokens.ids == prompt["ids"]
    assert len(tokens.tokens) == len(tokens.ids) and tokens.tokens[0] == "<s>"


def test_unknown_model_raises_with_the_servers_message(client):
    with pytest.raises(patchbay.PatchbayError) as error:
        client.tokenize("no-such-model", "hi")
    assert error.value.code == grpc.StatusCode.NOT_FOUND
    assert "no-such-model" in str(error.value)
    assert client.models()  # the server keeps serving


def test_a_patch_group_may_name_its_nodes_by_name_alone(server_address, client):
    """As docs/api.md's grpcurl example sends them: {"name": "L1H2"} without kind, layer or unit."""
    from patchbay.v1 import patchbay_pb2 as pb
    from patchbay.v1 import patchbay_pb2_grpc

    pair = patchbay.Pair("When Mary and John went to the store, John gave a drink to",
                         "When Mary and John went to the store, Mary gave a drink to", answer=" Mary", wrong=" John")
    expected = [r.effect for r in client.patch("tiny-gpt2", pair, [["L1H2"], ["L1H2", "L0N5@3"]])]
    request = pb.PatchRequest(model="tiny-gpt2", pairs=[pair.to_proto()], groups=[
        pb.NodeGroup(nodes=[pb.Node(name="L1H2")]),
        pb.NodeGroup(nodes=[pb.Node(name="L1H2"), pb.Node(name="L0N5@3")])])
    with grpc.insecure_channel(server_address) as channel:
        events = list(patchbay_pb2_grpc.PatchbayStub(channel).Patch(request, timeout=60))
    assert [e.result.effect for e in events if e.HasField("result")] == expected
