"""Starts a real Patchbay server (the built jar) on a free loopback port for the whole test session.

Tests that use it are marked ``server``; ``pytest -m "not server"`` runs the rest without a jar."""
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CHECKPOINTS = REPO / "testdata" / "checkpoints"


def pytest_collection_modifyitems(items):
    for item in items:
        if {"server_address", "token_server_address"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def server_address():
    yield from _serve()


#: The token the server of ``token_server_address`` accepts.
TOKEN = "python-client-test-token-0123"


@pytest.fixture(scope="session")
def token_server_address(tmp_path_factory):
    """A second server that requires a bearer token (--auth-tokens) on every call but health checks."""
    tokens = tmp_path_factory.mktemp("auth") / "tokens"
    tokens.write_text(f"# test only\n{TOKEN}\n")
    yield from _serve("--auth-tokens", str(tokens))


def _serve(*extra: str):
    jar = pathlib.Path(os.environ.get("PATCHBAY_JAR", REPO / "cli" / "target" / "patchbay.jar"))
    if not jar.exists():
        pytest.fail(f"{jar} does not exist: build it first (./patchbay test does)")
    command = ["java", "-Dai.djl.offline=true", "-jar", str(jar), "serve", "--port", "0",
               "--model", str(CHECKPOINTS / "tiny-gpt2"), "--model", str(CHECKPOINTS / "tiny-llama"), *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    try:
        address = None
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("patchbay listening on "):
                address = line.split()[-1]
                break
        if address is None:
            pytest.fail(f"the server exited with {process.wait()} before listening")
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
