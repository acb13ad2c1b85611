#!/usr/bin/env python3
"""Generates the Python gRPC stubs in src/patchbay/v1/ from ../proto (the one schema of server and clients).

Run it after changing a .proto file and commit the result; the test suite regenerates the stubs into a
temporary folder and fails when they differ from the committed ones. grpcio-tools is pinned in
pyproject.toml's test extra so that every machine generates the same text.

Usage: python3 generate_stubs.py [OUTPUT_ROOT]   (default: src)
"""
import pathlib
import sys

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent / "proto"


def generate(output_root: pathlib.Path) -> list[pathlib.Path]:
    protos = sorted(PROTO_ROOT.glob("patchbay/**/*.proto"))
    output_root.mkdir(parents=True, exist_ok=True)
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={output_root}",
            f"--pyi_out={output_root}", f"--grpc_python_out={output_root}", *map(str, protos)]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((output_root / "patchbay" / "v1").glob("*.py*"))


if __name__ == "__main__":
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "src"
    for path in generate(root):
        print(path)
