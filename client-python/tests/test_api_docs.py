"""The protocol documentation covers the contract: every RPC, message and enum of the .proto appears in the
generated reference (docs/api-reference.md: rerun tools/make_api_reference.sh after changing the .proto), and
every RPC in the guide's table (docs/api.md)."""
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[2]
PROTO = (REPO / "proto" / "patchbay" / "v1" / "patchbay.proto").read_text()


def test_the_reference_covers_every_message_enum_and_rpc():
    reference = (REPO / "docs" / "api-reference.md").read_text()
    types = re.findall(r"^(?:message|enum) (\w+)", PROTO, re.MULTILINE)
    rpcs = re.findall(r"^\s*rpc (\w+)\(", PROTO, re.MULTILINE)
    assert len(types) > 30 and len(rpcs) == 13
    missing = [t for t in types if f'name="patchbay-v1-{t}"' not in reference]
    missing += [r for r in rpcs if f"| {r} |" not in reference]
    assert not missing, f"docs/api-reference.md lacks {missing}: run tools/make_api_reference.sh"


def test_the_guide_lists_every_rpc():
    guide = (REPO / "docs" / "api.md").read_text()
    for rpc in re.findall(r"^\s*rpc (\w+)\(", PROTO, re.MULTILINE):
        assert f"| `{rpc}` |" in guide, rpc
