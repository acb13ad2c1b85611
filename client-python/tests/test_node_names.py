"""The client's node names against the conformance examples the server and the Java client share
(proto/node-names.json). No server needed."""
import json
import pathlib

import pytest

from patchbay import edge_name, feature_name, node_name, parse_edge, parse_feature, parse_node
from patchbay.v1 import patchbay_pb2 as pb

EXAMPLES = json.loads((pathlib.Path(__file__).resolve().parents[2] / "proto" / "node-names.json").read_text())


@pytest.mark.parametrize("example", EXAMPLES["valid"], ids=lambda e: e["name"])
def test_valid_names_parse_to_their_fields_and_print_back_unchanged(example):
    node = parse_node(example["name"])
    assert (pb.NodeKind.Name(node.kind), node.layer, node.unit, node.position) == (
        example["kind"], example["layer"], example["unit"], example["position"])
    assert node.name == example["name"]
    assert node_name(node.kind, node.layer, node.unit, node.position) == example["name"]


@pytest.mark.parametrize("example", EXAMPLES["aliases"], ids=lambda e: e["name"])
def test_aliases_parse_to_their_canonical_name(example):
    assert parse_node(example["name"]).name == example["canonical"]


@pytest.mark.parametrize("name", EXAMPLES["invalid"])
def test_invalid_names_are_refused_with_the_text_in_the_message(name):
    with pytest.raises(ValueError, match="not a node name") as refused:
        parse_node(name)
    assert repr(name) in str(refused.value)


@pytest.mark.parametrize("example", EXAMPLES["edges"], ids=lambda e: e["name"])
def test_edge_names_parse_to_their_fields_and_print_back_unchanged(example):
    edge = parse_edge(example["name"])
    assert (pb.WriterKind.Name(edge.writer_kind), edge.writer_layer, edge.writer_unit,
            pb.ReaderKind.Name(edge.reader_kind), edge.reader_layer, edge.reader_unit, edge.position) == (
        example["writer_kind"], example["writer_layer"], example["writer_unit"], example["reader_kind"],
        example["reader_layer"], example["reader_unit"], example["position"])
    assert edge_name(edge) == example["name"]


@pytest.mark.parametrize("name", EXAMPLES["invalid_edges"])
def test_invalid_edge_names_are_refused_with_the_text_in_the_message(name):
    with pytest.raises(ValueError, match="not an edge name") as refused:
        parse_edge(name)
    assert repr(name) in str(refused.value)


@pytest.mark.parametrize("example", EXAMPLES["features"], ids=lambda e: e["name"])
def test_feature_names_parse_to_their_fields_and_print_back_unchanged(example):
    node = parse_feature(example["name"])
    assert (node.layer, node.site, node.feature, node.position) == (
        example["layer"], example["site"], example["feature"], example["position"])
    assert feature_name(node.layer, node.site, node.feature, node.position) == example["name"]


@pytest.mark.parametrize("name", EXAMPLES["invalid_features"])
def test_invalid_feature_names_are_refused_with_the_text_in_the_message(name):
    with pytest.raises(ValueError, match="not a feature node name") as refused:
        parse_feature(name)
    assert repr(name) in str(refused.value)
