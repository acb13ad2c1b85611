"""Starts a real Patchbay server (the built jar) on a free loopback port for the whole test session.

Tests that use it are marked ``server``; ``pytest -m "not server"`` runs the rest without a jar."""
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CHECKPOINTS = REPO / "testdata" / "checkpoints"
#: The sparse dictionaries spliced into tiny-gpt2 on the session's server (tools/make_feature_golden.py made them).
DICTIONARIES = ("resid-relu", "z-jumprelu", "mlp-transcoder")


def pytest_collection_modifyitems(items):
    for item in items:
        if {"server_address", "token_server_address"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def server_address():
    dictionaries = [f"--dictionary=tiny-gpt2/{name}={REPO / 'testdata' / 'dictionaries' / 'tiny-gpt2' / name}"
                    for name in DICTIONARIES]
    yield from _serve(*dictionaries)


#: The token the server of ``token_server_address`` accepts.
TOKEN = "python-client-test-token-0123"


@pytest.fixture(scope="session")
def token_server_address(tmp_path_factory):
    """A second server that requires a bearer token (--auth-tokens) on every call but health checks."""
    tokens = tmp_path_factory.mktemp("auth") / "tokens"
    tokens.write_text(f"# test only\n{TOKEN}\n")
    yield from _serve("--auth-tokens", str(tokens))


def _serve(*extra: str):
    process = launch_server(extra)
    try:
        yield listening_address(process)
    finally:
        stop_server(process)


def launch_server(extra=(), models=("tiny-gpt2", "tiny-llama")) -> subprocess.Popen:
    """Starts a server process on a free port (read it with ``listening_address``)."""
    jar = pathlib.Path(os.environ.get("PATCHBAY_JAR", REPO / "cli" / "target" / "patchbay.jar"))
    if not jar.exists():
        pytest.fail(f"{jar} does not exist: build it first (./patchbay test does)")
    command = ["java", "-Dai.djl.offline=true", "-jar", str(jar), "serve", "--port", "0"]
    for model in models:
        command += ["--model", str(CHECKPOINTS / model)]
    return subprocess.Popen([*command, *extra], stdout=subprocess.PIPE, stderr=sys.stderr, text=True)


def listening_address(process: subprocess.Popen) -> str:
    """The "host:port" a launched server listens on, once it does."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("patchbay listening on "):
            return line.split()[-1]
    pytest.fail(f"the server exited with {process.wait()} before listening")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
