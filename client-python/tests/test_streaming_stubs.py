"""The generated stubs stream an Attribute request end to end against a real server."""
import grpc
import numpy as np

from patchbay.v1 import patchbay_pb2 as pb
from patchbay.v1 import patchbay_pb2_grpc


def request(model="tiny-gpt2", **kwargs):
    pair = pb.PromptPair(
        clean=pb.Prompt(text="When Mary and John went to the store, John gave a drink to"),
        noise=pb.Prompt(text="When Mary and John went to the store, Mary gave a drink to"),
        answers=[pb.Token(text=" Mary")], wrongs=[pb.Token(text=" John")])
    nodes = pb.NodeSet(kinds=[pb.HEAD_OUTPUT, pb.NEURON], per_position=True)
    return pb.AttributeRequest(model=model, pairs=[pair], nodes=nodes, method=pb.ATP_STAR, **kwargs)


def test_attribute_streams_blocks_before_the_summary(server_address):
    with grpc.insecure_channel(server_address) as channel:
        stub = patchbay_pb2_grpc.PatchbayStub(channel)
        events = list(stub.Attribute(request(verify_top_k=3), timeout=60))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    assert kinds.index("block") < kinds.index("verified") < kinds.index("summary")
    blocks = [e.block for e in events if e.HasField("block")]
    assert len(blocks) == 2 * 2  # two layers, two node kinds
    values = sum(len(b.values) for b in blocks)
    assert values == events[0].accepted.node_count
    neuron = next(b for b in blocks if b.kind == pb.NEURON)
    values = np.asarray(neuron.values, dtype=np.float32).reshape(tuple(neuron.shape))
    assert values.shape == (len(neuron.positions), 128)
    ranks = [e.verified.rank for e in events if e.HasField("verified")]
    assert ranks == [1, 2, 3]


def test_a_bad_request_gets_invalid_argument_naming_the_field(server_address):
    with grpc.insecure_channel(server_address) as channel:
        stub = patchbay_pb2_grpc.PatchbayStub(channel)
        bad = request()
        bad.nodes.layers.append(9)
        try:
            list(stub.Attribute(bad, timeout=60))
            raise AssertionError("expected an error")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "nodes.layers" in e.details()
