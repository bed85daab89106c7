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


def test_a_failing_cell_fails_the_build(tmp_path):
    from helpers import BookError
    from helpers.book_build import execute_chapters

    repo = tmp_path / "repo"
    (repo / "chapters").mkdir(parents=True)
    (repo / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/broken\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("answer = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise ValueError('this chapter is broken')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, repo / "chapters" / "broken.ipynb")
    with pytest.raises(BookError, match=r"broken.ipynb failed in cell 3: ValueError: this chapter is broken"):
        execute_chapters(tmp_path / "tree", {"answer": 42}, repo, log=lambda *_: None)  # cell 2: injected
    executed = nbformat.read(tmp_path / "tree" / "chapters" / "broken.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "answer = 42" in injected[0].source


def test_a_hung_cell_is_retried_then_reported(tmp_path):
    from helpers import BookError
    from helpers.book_build import execute_chapter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(30)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "slow.ipynb")
    with pytest.raises(BookError, match=r"slow.ipynb: a cell ran over 2 s in 2 attempts"):
        execute_chapter(tmp_path / "slow.ipynb", tmp_path / "out.ipynb", {}, cell_timeout_s=2)
