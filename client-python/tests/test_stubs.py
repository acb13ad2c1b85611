"""The committed stubs must be exactly what the pinned generator makes from ../proto today."""
import importlib.util
import pathlib

HERE = pathlib.Path(__file__).resolve().parents[1]


def test_stubs_match_the_proto_files(tmp_path):
    spec = importlib.util.spec_from_file_location("generate_stubs", HERE / "generate_stubs.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    fresh = generator.generate(tmp_path)
    assert fresh, "no stubs were generated"
    committed = HERE / "src" / "patchbay" / "v1"
    for path in fresh:
        mine = committed / path.name
        assert mine.exists(), f"{path.name} is not committed: run client-python/generate_stubs.py"
        assert mine.read_text() == path.read_text(), (
            f"{mine} differs from ../proto: run client-python/generate_stubs.py and commit the result")
