"""The book's sources: chapters listed in the TOC, output-free, each opening with a parameters cell."""

import nbformat
import pytest
import yaml

from conftest import REPO
from helpers.publish.book_build import chapter_notebooks, hide_injected_parameters, toc_files

CHAPTERS = chapter_notebooks(REPO)
# Every chapter opens with the same cell: on Colab (no clone) it installs the book's package.
INSTALL_CELL = next(c.source for c in nbformat.read(CHAPTERS[0], as_version=4).cells if c.cell_type == "code")


def test_the_install_cell_installs_this_repository():
    repository = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    assert f'BOOK = "{repository}"' in INSTALL_CELL and 'find_spec("helpers") is None' in INSTALL_CELL
    assert "--extra-index-url" in INSTALL_CELL  # torch's CPU build, as in requirements.txt's comment


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
    assert code[0].source == INSTALL_CELL and code[0].metadata.get("tags") == ["remove-cell"]
    assert "parameters" in code[1].metadata.get("tags", []), "after the install cell: the `parameters` cell"
    assert "hide-cell" in code[1].metadata["tags"], "the parameters cell is folded in the HTML"
    for name in ("model", "data", "profile", "seed", "output_dir"):
        assert f"{name} =" in code[1].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "commit chapters without outputs"
    # the same parameters and set-up call everywhere: the reader's path runs three chapters to prove them
    first = [c for c in nbformat.read(CHAPTERS[0], as_version=4).cells if c.cell_type == "code"]
    assert code[1].source == first[1].source
    assert "chapter = setup_chapter(model, data, profile, seed, output_dir)" in code[2].source.splitlines()
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_code_fits_the_page_and_glues_through_one_helper(path):
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    wide = [line for source in code for line in source.splitlines() if len(line) > 80]
    assert not wide, f"{len(wide)} code lines over 80 characters scroll sideways in the HTML: {wide[:3]}"
    assert not [s for s in code if "myst_nb import glue" in s], "glue through helpers.glue_values"


PARAMETERS = {"model", "data", "profile", "seed", "output_dir"}


def _raw_reads(tree, outer: frozenset = frozenset()) -> set[str]:
    """The parameter names code reads without binding them in its own scope or an enclosing one
    (a function's arguments and assignments bind only inside it)."""
    import ast

    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    body, inner = [], []

    def walk(node):  # this scope's nodes; nested functions are scopes of their own
        for child in ast.iter_child_nodes(node):
            if isinstance(child, functions):
                inner.append(child)
                if not isinstance(child, ast.Lambda):
                    body.append(ast.Name(id=child.name, ctx=ast.Store()))
                for default in child.args.defaults:
                    body.append(default)
                    walk(default)
            else:
                body.append(child)
                walk(child)

    walk(tree)
    bound = set(outer)
    if isinstance(tree, functions):
        bound |= {a.arg for a in ast.walk(tree.args) if isinstance(a, ast.arg)}
    for node in body:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    raw = {n.id for n in body if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
           and n.id in PARAMETERS and n.id not in bound}
    for function in inner:
        raw |= _raw_reads(function, frozenset(bound))
    return raw


def test_the_raw_parameter_check_sees_scopes():
    import ast

    assert _raw_reads(ast.parse("print(model)\ndef f(model):\n    return model")) == {"model"}
    assert _raw_reads(ast.parse("def f(data):\n    return data\nprofile = 1\nprint(profile)")) == set()
    assert _raw_reads(ast.parse("def f():\n    return seed")) == {"seed"}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_cell_reads_a_raw_parameter(path):
    """After the set-up, a chapter reads its parameters from `chapter` (resolved), never the raw names
    papermill injects: so a run up to the set-up proves the reader's defaults for the whole chapter."""
    import ast

    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    later = "\n".join(line for source in code[3:] for line in source.splitlines()
                      if not line.lstrip().startswith("%"))
    raw = sorted(_raw_reads(ast.parse(later)))
    assert not raw, f"cells after the set-up read the raw parameters {raw}: read chapter.<name> instead"


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
    from helpers.publish.book_build import execute_chapters

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
    from helpers.publish.book_build import execute_chapter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(30)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "slow.ipynb")
    with pytest.raises(BookError, match=r"slow.ipynb: a cell ran over 2 s in 2 attempts"):
        execute_chapter(tmp_path / "slow.ipynb", tmp_path / "out.ipynb", {}, cell_timeout_s=2)


def _book_repo(root, chapters: dict[str, str]):
    """A minimal book: a config, an intro and one notebook per chapter whose code writes results/models."""
    (root / "chapters").mkdir(parents=True)
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Intro\n")
    (root / "_config.yml").write_text("title: test\n")
    toc = "".join(f"  - file: chapters/{name}\n" for name in chapters)
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nchapters:\n{toc}")
    for name, code in chapters.items():
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell("model = data = profile = None\nseed = 0\noutput_dir = '../results'",
                                      metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("from helpers import setup_chapter\n"
                                      "chapter = setup_chapter(model, data, profile, seed, output_dir)\n"
                                      "print(chapter.describe())"),
            nbformat.v4.new_code_cell(code),
        ])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / "chapters" / f"{name}.ipynb")
    for path, text in {"_build/html/index.html": "old book", "results/comparison.json": "old record",
                       "models/baseline/weights": "old weights"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


WRITES = """from pathlib import Path
out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
(out / "comparison.json").write_text("new record")
(out.parent / "models" / "baseline").mkdir(parents=True, exist_ok=True)
(out.parent / "models" / "baseline" / "weights").write_text("new weights")
"""


@pytest.fixture(scope="module")
def book_store(tmp_path_factory):
    """One store for the book builds of this module: the tiny model's routes are measured once."""
    return tmp_path_factory.mktemp("store")


def test_a_failed_rebuild_leaves_the_previous_book_results_and_models(tmp_path, tiny_bert, shared_data,
                                                                      book_store):
    from helpers import BookError
    from helpers.publish.book_build import build_book

    repo = _book_repo(tmp_path / "repo", {"measures": WRITES, "broken": "raise ValueError('broken')"})
    with pytest.raises(BookError, match=r"(?s)broken.ipynb failed.*untouched.*partial output is in .*_build/next"):
        build_book(model=str(tiny_bert), data=str(shared_data), profile="smoke", repo=repo, log=lambda *_: None,
                   store=book_store, variants="int8_dynamic")
    assert (repo / "_build/html/index.html").read_text() == "old book"
    assert (repo / "results/comparison.json").read_text() == "old record"
    assert (repo / "models/baseline/weights").read_text() == "old weights"
    assert (repo / "_build/next/results/comparison.json").read_text() == "new record"  # kept for a look


def test_a_successful_rebuild_replaces_book_results_and_models(tmp_path, tiny_bert, shared_data, monkeypatch,
                                                               book_store):
    from helpers.publish import book_build

    def render(tree, out):  # Jupyter Book itself is exercised by `make test`'s smoke build
        (out / "_build" / "html").mkdir(parents=True)
        (out / "_build" / "html" / "index.html").write_text("new book")

    monkeypatch.setattr(book_build, "render_html", render)
    monkeypatch.setattr(book_build, "install_static_assets", lambda static, repo, models: None)
    # not the chapter of the failed build above, which the shared store would serve
    repo = _book_repo(tmp_path / "repo", {"measures": WRITES.replace("new record", "newer record")})
    html = book_build.build_book(model=str(tiny_bert), data=str(shared_data), profile="smoke", repo=repo,
                                 log=lambda *_: None, store=book_store,
                                 variants="int8_dynamic")
    assert html == repo / "_build" / "html" and (html / "index.html").read_text() == "new book"
    assert (repo / "results/comparison.json").read_text() == "newer record"
    assert (repo / "models/baseline/weights").read_text() == "new weights"
    assert not (repo / "_build/next").exists() and not list(repo.glob("**/*.previous"))
    from helpers.measure.build_record import load_build_record

    built = load_build_record(repo / "results" / "build.json")  # the build measured itself
    assert built["complete"] and built["profile"] == "smoke" and built["jobs"] == 1
    assert [s["step"] for s in built["steps"]] == ["routes", "DistilBERT shape", "chapter keys", "chapters",
                                                   "render"]
    assert [c["chapter"] for c in built["chapters"]] == ["measures"] and built["chapters"][0]["executed"]
    routes = built["routes"]  # measured now, or by the failed build above into the shared store
    assert routes.get("comparison: measured", 0) + routes.get("comparison: reused from the store", 0) >= 2


def test_chapters_say_in_a_sentence_when_this_machine_skipped_their_route(tmp_path, tiny_distilbert, shared_data,
                                                                          monkeypatch):
    """A machine without a C++ compiler skips the compiled routes: chapters 6 and 8, whose subject
    they are, still run and say so on the page instead of stopping."""
    from helpers import VARIANTS, run_comparison
    from helpers.publish.book_build import execute_chapter
    from helpers.routes.variants import introduced_by

    results = tmp_path / "results"
    # the routes of chapters 6 and 8 measured ahead into the chapters' store (tmp_path/store), as a machine
    # without a compiler measures them
    run_comparison(model=str(tiny_distilbert), data=str(shared_data), profile="smoke",
                   out=results / "comparison.json", models_dir=tmp_path / "models", progress=False,
                   variants=[n for n in introduced_by(8) if not VARIANTS[n].compiled])
    reason = "torch.compile's inductor backend needs a C++ compiler (g++ or clang++), and none is installed"
    bare = tmp_path / "bin"  # a PATH without g++, c++ or clang++: the kernel is this Python, by its path
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    parameters = {"model": str(tiny_distilbert), "data": str(shared_data), "profile": "smoke", "seed": 0,
                  "output_dir": str(results)}
    for chapter in ("06_static_quantization", "08_modern_routes"):
        target = tmp_path / f"{chapter}.ipynb"
        execute_chapter(REPO / "chapters" / f"{chapter}.ipynb", target, parameters, cell_timeout_s=600)
        assert "This machine skipped" in target.read_text() and reason in target.read_text()


def test_injected_paths_are_shown_relative_to_the_book(tmp_path):
    import nbformat

    from helpers.publish.book_build import without_machine_paths

    repo, tree = tmp_path / "repo", tmp_path / "repo/_build/next/tree"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        f'model = "/srv/copies/minilm"\noutput_dir = "{repo}/_build/next/results"\nseed = 0',
        metadata={"tags": ["injected-parameters"]})]
    nb.metadata["papermill"] = {"input_path": f"{repo}/chapters/a.ipynb", "output_path": f"{tree}/chapters/a.ipynb",
                                "parameters": {"model": "/srv/copies/minilm", "seed": 0}}
    without_machine_paths(nb, (tree, repo))
    assert nb.cells[0].source == 'model = "…/minilm"\noutput_dir = "_build/next/results"\nseed = 0'
    assert nb.metadata["papermill"] == {"input_path": "chapters/a.ipynb", "output_path": "chapters/a.ipynb",
                                        "parameters": {"model": "…/minilm", "seed": 0}}
