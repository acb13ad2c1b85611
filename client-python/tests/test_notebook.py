"""examples/quickstart.ipynb runs top to bottom against a server it starts itself, so it cannot rot."""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.server
def test_the_quickstart_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    jar = pathlib.Path(os.environ.get("PATCHBAY_JAR", REPO / "cli" / "target" / "patchbay.jar")).resolve()
    if not jar.exists():
        pytest.fail(f"{jar} does not exist: build it first (./patchbay test does)")
    monkeypatch.setenv("PATCHBAY_JAR", str(jar))
    monkeypatch.setenv("PATCHBAY_HOME", str(REPO))
    notebook = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    # Run in a scratch folder (the notebook writes its pictures and run there) that looks like examples/.
    work = tmp_path / "examples"
    work.mkdir()
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    assert "largest verified effect" in text and "events read back" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    assert (work / "quickstart-run.npz").exists()
    # What a reader sees is the notebook's own output: no server log lines, no exit status left as a cell's value.
    assert not [o for o in outputs if o.get("name") == "stderr"], [o.get("text") for o in outputs]
    assert "143" not in "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "INFO" in (work / "quickstart-server.log").read_text()
