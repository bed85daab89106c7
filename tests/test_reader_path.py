"""The reader's path: `make lab` opens the chapters in JupyterLab, and every chapter runs from
`chapters/` with its default parameters, without papermill.

Runs after a build (`make test` runs it last, with BOOK_PROFILE=smoke), so chapters that read the
build's records reuse them as a reader's would. BOOK_REQUIRE_LAB=1 turns a missing JupyterLab into
a failure instead of a skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO
from helpers.publish.book_build import chapter_notebooks

pytestmark = pytest.mark.reader
CHAPTERS = chapter_notebooks(REPO)
JUPYTER_LAB = Path(sys.executable).with_name("jupyter-lab")


# Run from top to bottom as a reader would: the cheapest chapters, the widgets' and the build page. The
# smoke build has just executed every cell of every chapter with the parameters these defaults resolve to
# (checked below), against the same store; what running from `chapters/` without papermill could change
# is the parameters cell and the set-up call, and those are the same in every chapter
# (test_book_sources.py), so the three chapters run here prove them for all.
WHOLE = ("01_fp32_vs_int8", "05_playground", "how_this_book_was_built")
PARAMETERS = ("model", "data", "profile", "seed", "output_dir")


def _run(nb, path):
    client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


@pytest.mark.parametrize("name", WHOLE)
def test_a_chapter_runs_from_its_folder_with_default_parameters(name):
    from helpers.core.sources import resolve_data, resolve_model
    from helpers.measure.profiles import resolve_profile

    path = REPO / "chapters" / f"{name}.ipynb"
    assert path in CHAPTERS
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json\nprint(json.dumps({'model': chapter.model, 'data': chapter.data, "
        "'profile': chapter.profile.name, 'output_dir': str(chapter.output_dir)}))"))
    assert not _run(nb, path)
    resolved = json.loads(nb.cells[-1].outputs[0]["text"])
    assert resolved == {"model": str(resolve_model(None)), "data": str(resolve_data(None)),
                        "profile": resolve_profile(None, os.environ).name, "output_dir": str(REPO / "results")}
    # and the committed file is untouched: executed in memory only
    assert all(not c.get("outputs") for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_make_lab_serves_the_chapters(tmp_path):
    if not JUPYTER_LAB.is_file():
        if os.environ.get("BOOK_REQUIRE_LAB") == "1":
            pytest.fail(f"{JUPYTER_LAB} is missing: `make lab` should have installed JupyterLab")
        pytest.skip("JupyterLab is not installed (run `make lab`)")
    port, token = _free_port(), "book-test"
    command = ["make", "-s", "lab", f"VENV={Path(sys.executable).parents[1]}",
               f"LAB_ARGS=--no-browser --port={port} --IdentityProvider.token={token}"]
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)}, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(120):
            try:
                contents = _get(f"{base}/contents?token={token}")
                break
            except OSError:
                assert server.poll() is None, "`make lab` exited before serving"
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        names = {item["name"] for item in contents["content"]}
        assert {p.name for p in CHAPTERS} <= names  # it opened chapters/
        assert "python3" in _get(f"{base}/kernelspecs?token={token}")["kernelspecs"]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
