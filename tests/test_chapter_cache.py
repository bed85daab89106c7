"""Executed chapters reused while nothing they depend on changed; run again when something did."""

import json

import nbformat
import pytest

from helpers.publish.book_build import execute_chapters
from helpers.publish.chapter_cache import ChapterCache, chapter_key, imported_helpers

READS = """import json, os
with open(os.environ["BOOK_READS"], "a") as f:
    f.write(json.dumps({"kind": "comparison", "keys": {"fp32": "key-1"}}) + "\\n")
"""


# The provenance a chapter prints first (`chapter.describe()`), without importing torch in each kernel.
DESCRIBE = """class Chapter:
    def describe(self):
        return f"model: {model}\\nrun on a test machine, commit abc"
chapter = Chapter()
print(chapter.describe())"""


def _notebook(path, prose="# A chapter\n\nThe first words.", code="print('answer', 6 * 7)"):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(prose),
        nbformat.v4.new_code_cell("model = data = profile = None\nseed = 0\noutput_dir = '../results'",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(DESCRIBE),
        nbformat.v4.new_code_cell(READS),
        nbformat.v4.new_code_cell(code),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture()
def book(tmp_path, tiny_bert, tiny_data):
    repo = tmp_path / "repo"
    (repo / "chapters").mkdir(parents=True)
    (repo / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/one\n")
    _notebook(repo / "chapters" / "one.ipynb")
    parameters = {"model": str(tiny_bert), "data": str(tiny_data), "profile": "smoke", "seed": 0,
                  "output_dir": str(tmp_path / "results")}
    lines = []

    def build(current=None, context=None, fresh=False):
        cache = ChapterCache(tmp_path / "store", fresh=fresh, log=lines.append)
        done = execute_chapters(tmp_path / "tree", parameters, repo, lines.append, 120, cache,
                                context or {"machine": "m"}, current or {"comparison": {"fp32": "key-1"}})
        page = nbformat.read(tmp_path / "tree" / "chapters" / "one.ipynb", as_version=4)
        return done["one"]["ran"], page
    return repo, build, lines, tmp_path


def _text(page):
    return "\n".join(c.source if c.cell_type == "markdown" else
                     "".join(o.get("text", "") for o in c.get("outputs", [])) for c in page.cells)


def test_an_unchanged_chapter_is_reused_with_its_current_prose(book):
    repo, build, _lines, _ = book
    ran, page = build()
    assert ran and "this build executed this page" in _text(page) and "answer 42" in _text(page)
    ran, page = build()
    assert not ran and "reused this page as executed" in _text(page) and "answer 42" in _text(page)
    _notebook(repo / "chapters" / "one.ipynb", prose="# A chapter\n\nBetter words.")  # prose only
    ran, page = build()
    assert not ran and "Better words." in _text(page) and "The first words." not in _text(page)
    source = nbformat.read(repo / "chapters" / "one.ipynb", as_version=4)
    source.cells[-1].metadata["tags"] = ["hide-input"]  # how a cell shows is not what it computes
    nbformat.write(source, repo / "chapters" / "one.ipynb")
    ran, page = build()
    assert not ran and page.cells[-1].metadata["tags"] == ["hide-input"] and "answer 42" in _text(page)
    assert sum("injected-parameters" in c.metadata.get("tags", []) for c in page.cells) == 1


def test_code_context_and_what_it_read_each_run_it_again(book):
    repo, build, _lines, _ = book
    assert build()[0]
    _notebook(repo / "chapters" / "one.ipynb", code="print('answer', 6 * 9)")
    ran, page = build()
    assert ran and "answer 54" in _text(page)
    assert not build()[0]
    assert build(context={"machine": "another CPU"})[0]
    assert build(current={"comparison": {"fp32": "key-2"}})[0]  # a measurement it shows changed
    assert not build(current={"comparison": {"fp32": "key-1"}, "shape": {"fp32": "s"}})[0]  # it read no shape
    assert build(fresh=True)[0]


def test_a_damaged_executed_chapter_is_reported_and_run_again(book):
    _repo, build, lines, tmp_path = book
    build()
    (executed,) = (tmp_path / "store" / "chapters" / "one").glob("*/executed.ipynb")
    executed.write_text(executed.read_text().replace("answer 42", "answer 41"))
    ran, page = build()
    assert ran and "answer 42" in _text(page)
    assert sum("is damaged" in line for line in lines) == 1


def test_a_chapter_depends_on_the_helpers_modules_it_imports():
    cells = ["from helpers import glue_values, comparison_for\n%matplotlib inline",
             "from helpers.teach.plotting import use_book_style", "import numpy"]
    assert imported_helpers(cells) == ["helpers.teach.chapter", "helpers.teach.plotting"]
    assert json.dumps(imported_helpers(["import helpers"])) == '["helpers"]'


def test_a_chapter_key_follows_its_own_helpers_not_the_routes_behind_its_record(tmp_path):
    """A route's code reaches a chapter through the measurements it read (their keys), so editing a
    method re-executes only the chapters that read that route; editing the widgets re-executes those
    that use them."""
    import shutil

    import helpers
    from helpers.core.fingerprints import _source_digest

    package = tmp_path / "helpers"
    shutil.copytree(helpers.__path__[0], package, ignore=shutil.ignore_patterns("__pycache__"))
    reads = tmp_path / "reads.ipynb"
    _notebook(reads, code="from helpers import comparison_for")
    draws = tmp_path / "draws.ipynb"
    _notebook(draws, code="from helpers.teach.widgets import sentence_playground")

    def keys():
        _source_digest.cache_clear()
        return [chapter_key(nb, {}, {}, package) for nb in (reads, draws)]

    def edit(relative):
        path = package / relative
        path.write_text(path.read_text() + "\n# edited\n")
        return keys()

    before = keys()
    assert edit("methods/distillation.py") == before
    assert edit("routes/configs.py") == before
    after = edit("teach/widgets.py")
    assert after[0] == before[0] and after[1] != before[1]
    last = edit("teach/chapter.py")  # where comparison_for lives
    assert last[0] != after[0] and last[1] == after[1]


def test_chapters_run_side_by_side_say_so_and_are_not_reused_one_at_a_time(tmp_path, tiny_bert, tiny_data):
    """`jobs=2`: two chapters execute at once in worker processes, each logs what it read, each page
    says it ran beside another; a one-at-a-time build runs them again (their timings were shared)."""
    repo = tmp_path / "repo"
    (repo / "chapters").mkdir(parents=True)
    (repo / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   "  - file: chapters/one\n  - file: chapters/two\n")
    _notebook(repo / "chapters" / "one.ipynb")
    _notebook(repo / "chapters" / "two.ipynb", code="import os\nprint('policy', os.environ.get('OMP_WAIT_POLICY'))")
    parameters = {"model": str(tiny_bert), "data": str(tiny_data), "profile": "smoke", "seed": 0,
                  "output_dir": str(tmp_path / "results")}
    cache = ChapterCache(tmp_path / "store", log=lambda *_: None)
    current = {"comparison": {"fp32": "key-1"}}

    def build(jobs):
        done = execute_chapters(tmp_path / "tree", parameters, repo, lambda *_: None, 120, cache, {"machine": "m"},
                                current, jobs=jobs)
        return done, {name: _text(nbformat.read(tmp_path / "tree" / "chapters" / f"{name}.ipynb", as_version=4))
                      for name in ("one", "two")}

    done, pages = build(2)
    assert all(d["ran"] for d in done.values())
    assert all("2 chapters at a time" in page for page in pages.values())
    assert "answer 42" in pages["one"] and "policy PASSIVE" in pages["two"]
    assert not any(d["ran"] for d in build(2)[0].values())  # the same way again: reused (reads were logged)
    done, pages = build(1)
    assert all(d["ran"] for d in done.values()) and "at a time" not in pages["one"]
