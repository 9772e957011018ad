"""Execute notebooks/quickstart.ipynb end to end in its quick setting.

The kernel is pinned to the interpreter running the tests: the test writes its own kernel
spec (``sys.executable -m ipykernel_launcher``) into a temporary Jupyter path, so it neither
depends on a kernel installed by hand nor picks up a ``python3`` kernel of another
environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
KERNEL = "item2vec-tests"


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


@pytest.fixture
def kernel_path(tmp_path, monkeypatch) -> Path:
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "item2vec tests", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("ITEM2VEC_NOTEBOOK_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel shows figures inline
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return tmp_path


def test_quickstart_notebook_runs(kernel_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=600,  # per cell; a safety net against a hung kernel, not a speed check
        resources={"metadata": {"path": str(kernel_path)}},
    )
    client.execute()  # raises CellExecutionError naming the cell if any cell fails
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = "\n".join(_text(c) for c in code)
    assert "quick smoke run" in text
    assert "reloaded model gives identical answers: True" in text
    assert "transitions" in text and "HR@10" in text  # the comparison table
    assert "best HR@10 on validation" in text  # the tune summary
    images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the training curves and the 2-D map
