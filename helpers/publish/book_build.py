"""Rebuild the book: papermill executes every chapter into a build tree, then Jupyter Book renders it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

from ..core.errors import BookError

REPO = Path(__file__).resolve().parents[2]  # helpers/publish/book_build.py → the repository
ASSETS = Path("book") / "assets"


def toc_files(repo: Path = REPO) -> list[str]:
    """Every document named in `_toc.yml`, in reading order (without suffix)."""
    toc = yaml.safe_load((repo / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return found


def chapter_notebooks(repo: Path = REPO) -> list[Path]:
    """The executable chapters named in the table of contents."""
    paths = [repo / f"{name}.ipynb" for name in toc_files(repo) if (repo / f"{name}.ipynb").is_file()]
    if not paths:
        raise BookError(f"No chapter notebooks found from {repo / '_toc.yml'}.")
    return paths


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell `remove-cell`, so the HTML does not show it."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
    nbformat.write(nb, path)


def execute_chapter(source: Path, target: Path, parameters: dict, cell_timeout_s: int, attempts: int = 2) -> None:
    """Run one chapter with papermill (cwd = its folder); a failing cell fails, a hung cell is retried once.

    A cell that exceeds `cell_timeout_s` is taken as a lost kernel message (papermill and nbclient
    occasionally wait forever for a reply the kernel already sent) and the chapter runs again.
    """
    import papermill

    for attempt in range(1, attempts + 1):
        try:
            papermill.execute_notebook(
                str(source), str(target), parameters=parameters, cwd=str(source.parent),
                kernel_name="python3", progress_bar=False, execution_timeout=cell_timeout_s,
            )
            return
        except papermill.PapermillExecutionError as err:
            raise BookError(
                f"{source.name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                f"The executed notebook, with the full traceback, is {target}."
            ) from None
        except TimeoutError:
            if attempt == attempts:
                raise BookError(f"{source.name}: a cell ran over {cell_timeout_s} s in {attempts} attempts.") from None


def execute_chapters(tree: Path, parameters: dict, repo: Path = REPO, log=print, cell_timeout_s: int = 1800) -> dict[str, float]:
    """Execute every chapter of the table of contents into `tree`, hiding papermill's injected cell."""
    seconds = {}
    os.environ["TQDM_DISABLE"] = "1"  # no progress-bar widgets in the published pages
    for source in chapter_notebooks(repo):
        target = tree / source.relative_to(repo)
        target.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        log(f"executing {source.relative_to(repo)} …")
        execute_chapter(source, target, parameters, cell_timeout_s)
        hide_injected_parameters(target)
        seconds[source.stem] = time.perf_counter() - start
        log(f"  done in {seconds[source.stem]:.1f} s")
    return seconds


def stage_sources(tree: Path, repo: Path = REPO) -> None:
    """Copy the configuration and the prose pages into the build tree."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(repo / name, tree / name)
    shutil.copytree(repo / "book", tree / "book", dirs_exist_ok=True, ignore=shutil.ignore_patterns("assets"))


def install_static_assets(static: Path, repo: Path = REPO, models: Path | None = None) -> dict | None:
    """Copy the browser assets (installed from the npm registry) into `static` (served as _static/).

    MathJax and the widget manager, and for the live page ONNX Runtime Web, tokenizers.js and this
    build's ONNX models from `models/onnx_fp32` and `models/onnx_int8_dynamic` (see `live`). Returns the live page's manifest.
    """
    from .live import BROWSER_FILES, install_live_files

    assets = repo / ASSETS
    modules = assets / "node_modules"
    needed = [modules / "mathjax", modules / "@jupyter-widgets" / "html-manager", *map(modules.joinpath, BROWSER_FILES)]
    if not all(path.is_dir() for path in needed):
        npm = shutil.which("npm")
        if npm is None:
            raise BookError(f"npm is needed once to fetch the book's browser assets ({ASSETS / 'package.json'}).")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=assets, check=True)
    shutil.copytree(modules / "mathjax" / "es5", static / "mathjax", dirs_exist_ok=True)
    shutil.copytree(modules / "@jupyter-widgets" / "html-manager" / "dist", static / "widgets", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.map", "libembed-amd.js", "embed-amd.js"))
    return install_live_files(models or repo / "models", modules, assets / "live" / "live.mjs", static / "live")


def render_html(tree: Path, out: Path) -> Path:
    """`jupyter-book build` with execution off and warnings as errors; HTML lands in `out/_build/html`."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(tree), "--path-output", str(out), "-W", "-n", "--keep-going"]
    subprocess.run(command, check=True)
    return out / "_build" / "html"


def replace_path(new: Path, old: Path) -> None:
    """Put `new` where `old` is (a file or a folder), removing `old` only once `new` is in place."""
    old.parent.mkdir(parents=True, exist_ok=True)
    retired = old.with_name(old.name + ".previous")
    if retired.is_dir():
        shutil.rmtree(retired)
    retired.unlink(missing_ok=True)
    if old.exists():
        old.rename(retired)
    new.rename(old)
    if retired.is_dir():
        shutil.rmtree(retired)
    retired.unlink(missing_ok=True)


def publish(staging: Path, site: Path = REPO) -> Path:
    """Move a finished build from `staging` into place: the HTML, each results file, each saved model."""
    for folder in ("results", "models"):
        if (staging / folder).is_dir():
            for item in sorted((staging / folder).iterdir()):
                replace_path(item, site / folder / item.name)
    html = site / "_build" / "html"
    replace_path(staging / "_build" / "html", html)
    shutil.rmtree(staging)
    return html


def build_book(model=None, data=None, profile=None, seed: int = 0, repo: Path = REPO, log=print,
               site: Path | None = None) -> Path:
    """Execute all chapters with fresh measurements, then render the HTML book; returns its folder.

    Everything is built in `<site>/_build/next` (chapters, results, models, HTML); the previous book,
    results and models under `site` (default: the repository) are replaced only when the whole build
    has succeeded. A failed build leaves them as they were and says where its partial output is.
    """
    from ..core.models import load_classifier
    from ..core.sources import resolve_data, resolve_model
    from ..data.sst2 import load_sst2
    from ..measure.profiles import resolve_profile

    # Resolve here (argument → environment → default) so relative paths do not depend on the chapters' cwd,
    # and load both once so that an unreachable hub or a bad directory stops the build before any chapter runs.
    site = Path(site).resolve() if site else repo
    staging = site / "_build" / "next"
    chosen = resolve_profile(profile)
    parameters = {"model": str(resolve_model(model)), "data": str(resolve_data(data)),
                  "profile": chosen.name, "seed": seed, "output_dir": str(staging / "results")}
    load_sst2(parameters["data"])
    load_classifier(parameters["model"])

    shutil.rmtree(staging, ignore_errors=True)  # a failed build's leftovers, never the published book
    tree = staging / "tree"
    tree.mkdir(parents=True)
    kept = (f"The previous book ({site / '_build' / 'html'}), results and models are untouched; "
            f"this build's partial output is in {staging}.")
    start = time.perf_counter()
    try:
        timings = execute_chapters(tree, parameters, repo, log, chosen.cell_timeout_s)
        stage_sources(tree, repo)
        install_static_assets(tree / "_vendor", repo, staging / "models")
        render_html(tree, staging)
    except (BookError, subprocess.CalledProcessError) as err:
        raise BookError(f"{err}\n{kept}") from None
    except BaseException:  # Ctrl-C, a killed kernel…: still say where things are
        log(kept)
        raise
    html = publish(staging, site)
    log(f"executed {len(timings)} chapters in {sum(timings.values()):.0f} s; "
        f"book built in {time.perf_counter() - start:.0f} s → {html}")
    return html
