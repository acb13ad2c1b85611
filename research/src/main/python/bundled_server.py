"""A local Patchbay server (the built jar) with both bundled models, for the scripts that write docs/."""
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[4]
MODELS = ("patchbay-tiny", "patchbay-tiny-llama")


def serve(models=MODELS, extra=()):
    """Starts the server on a free port (with ``extra`` serve flags); returns the process (terminate it when done) and
    its address."""
    jar = REPO / "cli" / "target" / "patchbay.jar"
    command = ["java", "-Dai.djl.offline=true", "-jar", str(jar), "serve", "--port", "0"]
    for model in models:
        command += ["--model", str(REPO / "models" / model)]
    command += list(extra)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("patchbay listening on "):
            return process, line.split()[-1]
    raise SystemExit(f"the server exited with {process.wait()}")
