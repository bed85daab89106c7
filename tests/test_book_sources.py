"""The book's sources: chapters listed in the TOC, output-free, each opening with a parameters cell."""

import nbformat
import pytest

from conftest import REPO
from helpers.book_build import chapter_notebooks, hide_injected_parameters, toc_files

CHAPTERS = chapter_notebooks(REPO)


def test_toc_lists_every_chapter_and_page_that_exists():
    docs = toc_files(REPO)
    assert docs[0] == "book/intro" and "book/references" in docs
    for doc in docs:
        assert (REPO / f"{doc}.ipynb").is_file() or (REPO / f"{doc}.md").is_file(), doc
    assert sorted(p.name for p in (REPO / "chapters").glob("*.ipynb")) == sorted(p.name for p in CHAPTERS)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_output_free_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell must be tagged `parameters`"
    for name in ("model", "data", "profile", "seed", "output_dir"):
        assert f"{name} =" in code[0].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "commit chapters without outputs"
    assert "setup_chapter(" in code[1].source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_injected_parameters_cell_is_removed_from_html(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("model = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("model = 'x'", metadata={"tags": ["injected-parameters"]}),
    ])
    path = tmp_path / "c.ipynb"
    nbformat.write(nb, path)
    hide_injected_parameters(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].metadata["tags"] == ["injected-parameters", "remove-cell"]
    assert cells[0].metadata["tags"] == ["parameters"]
