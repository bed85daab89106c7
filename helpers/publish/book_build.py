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
from ..core.sources import display_name, shown_path
from ..measure.build_record import FILE_NAME as BUILD_RECORD
from ..measure.build_record import PAGE as BUILD_PAGE
from ..measure.build_record import BuildClock
from ..routes.record import write_json
from ..routes.store import made_here
from .chapter_cache import (ChapterCache, chapter_key, mark_provenance, read_log, registry_digest,
                            with_current_prose)

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


def _shown(value, roots: tuple[Path, ...]):
    """An absolute path of this machine as a published page may show it (`shown_path`); other values
    as they are."""
    if not isinstance(value, str) or not value.startswith("/"):
        return value
    return shown_path(value, roots)


def without_machine_paths(nb, roots: tuple[Path, ...]) -> None:
    """Replace the paths of the machine that built the page (model and data folders, the build's
    folders) in papermill's injected parameters and metadata: the page says what, not where."""
    import re

    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = re.sub(r'"(/[^"]*)"', lambda m: repr(_shown(m.group(1), roots)).replace("'", '"'),
                                 cell.source)
    papermill = nb.metadata.get("papermill", {})
    for name in ("input_path", "output_path"):
        if name in papermill:
            papermill[name] = _shown(papermill[name], roots)
    for name, value in papermill.get("parameters", {}).items():
        papermill["parameters"][name] = _shown(value, roots)


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


def _execute_with_reads(source: Path, target: Path, parameters: dict, cell_timeout_s: int, reads: Path,
                        beside: int) -> float:
    """One chapter, its kernel told where to note what it read (`$BOOK_READS`); beside other chapters
    (`beside` > 1, each in a worker process of its own) its OpenMP threads sleep while they wait instead
    of spinning. The environment is given back afterwards. Returns the seconds it took."""
    settings = {"BOOK_READS": str(reads), **({"OMP_WAIT_POLICY": "PASSIVE"} if beside > 1 else {})}
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    began = time.perf_counter()
    try:
        execute_chapter(source, target, parameters, cell_timeout_s)
    finally:
        _restore_environment(before)
    return time.perf_counter() - began


def _restore_environment(before: dict[str, str | None]) -> None:
    """Give environment variables back the values `before` holds (None: unset)."""
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def chapter_title(nb) -> str:
    """A chapter's title: the text of its first `# ` heading."""
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    return first.splitlines()[0].removeprefix("# ").strip() if first.startswith("# ") else "(untitled)"


def execute_chapters(tree: Path, parameters: dict, repo: Path = REPO, log=print, cell_timeout_s: int = 1800,
                     cache: ChapterCache | None = None, context: dict | None = None,
                     current: dict | None = None, jobs: int = 1, before_build_page=None) -> dict[str, dict]:
    """Execute every chapter of the table of contents into `tree`, hiding papermill's injected cell.

    With a `cache`, a chapter whose key (`chapter_key` with `context`) is stored and whose reads are
    all `current` is reused with its current prose instead. Each page's provenance line says which.
    `jobs` > 1 executes that many chapters at a time (a test build: the timings a chapter takes itself
    then ran beside another chapter, so its key says so, and a one-at-a-time build never reuses it).
    The build page (`BUILD_PAGE`) runs last, after `before_build_page(done)` has written the record it
    shows, and is never reused. Returns, per chapter, its title, whether it ran and the seconds it took
    this build (a reused one: when and at which commit it was executed)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    os.environ["TQDM_DISABLE"] = "1"  # no progress-bar widgets in the published pages
    build = made_here()
    context = {**(context or {}), **({"chapters_at_a_time": jobs} if jobs > 1 else {})}
    todo, done, notebooks, lines = {}, {}, {}, {}
    sources = chapter_notebooks(repo)
    titles = {source: chapter_title(nbformat.read(source, as_version=4)) for source in sources}
    last = [source for source in sources if source.stem == BUILD_PAGE]
    for source in sources:
        target = tree / source.relative_to(repo)
        target.parent.mkdir(parents=True, exist_ok=True)
        key = chapter_key(source, parameters_for_key(parameters), context)
        hit = cache.find(source.stem, key, current or {}) if cache and source not in last else None
        if hit:
            executed, entry = hit
            notebooks[source] = with_current_prose(nbformat.read(executed, as_version=4),
                                                   nbformat.read(source, as_version=4))
            made = entry["made"]
            lines[source] = (f"this build ({build['date'][:16].replace('T', ' ')} UTC) reused this page as "
                             f"executed {made['date'][:16].replace('T', ' ')} UTC at commit "
                             f"{made['commit'] or 'unknown'}: nothing it depends on has changed since")
            log(f"reusing {source.relative_to(repo)} (executed {made['date']})")
            done[source.stem] = {"title": titles[source], "ran": False, "seconds": 0.0,
                                 "made": {k: made.get(k) for k in ("date", "commit")}}
        else:
            todo[source] = (target, key, tree / f".{source.stem}.reads.jsonl")

    def finish(source, seconds):
        target, key, reads = todo[source]
        if cache and source not in last:
            cache.put(source.stem, key, target, read_log(reads), seconds)
        reads.unlink(missing_ok=True)
        notebooks[source] = nbformat.read(target, as_version=4)
        lines[source] = "this build executed this page" + (
            f", {jobs} chapters at a time (its own timings ran beside another chapter's)" if jobs > 1 else "")
        done[source.stem] = {"title": titles[source], "ran": True, "seconds": seconds}
        log(f"  {source.relative_to(repo)} done in {seconds:.1f} s")

    if todo:
        log(f"executing {len(todo)} chapters{f', {jobs} at a time' if jobs > 1 else ''} …")
    for _target, _key, reads in todo.values():
        reads.unlink(missing_ok=True)
    first = {source: paths for source, paths in todo.items() if source not in last}
    if jobs <= 1:  # in this process, one after the other
        for source, (target, _key, reads) in first.items():
            finish(source, _execute_with_reads(source, target, parameters, cell_timeout_s, reads, 1))
    elif first:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            started = {source: pool.submit(_execute_with_reads, source, target, parameters, cell_timeout_s,
                                           reads, jobs)
                       for source, (target, _key, reads) in first.items()}
            for source, future in started.items():  # in book order; each raises its own failure
                finish(source, future.result())
    for source in last:  # alone, once everything it reports on is done
        if before_build_page:
            before_build_page({s.stem: done[s.stem] for s in sources if s.stem in done})
        target, _key, reads = todo[source]
        finish(source, _execute_with_reads(source, target, parameters, cell_timeout_s, reads, 1))

    for source in sources:
        nb, target = notebooks[source], tree / source.relative_to(repo)
        if not mark_provenance(nb, lines[source]):
            raise BookError(f"{source.name} prints no provenance: it must call print(chapter.describe()).")
        without_machine_paths(nb, (tree, repo.resolve()))
        nbformat.write(nb, target)
        hide_injected_parameters(target)
    return {source.stem: done[source.stem] for source in sources}


def parameters_for_key(parameters: dict) -> dict:
    """The parameters that decide a chapter's numbers (not where this build writes them)."""
    return {k: v for k, v in parameters.items() if k != "output_dir"}


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


def build_context(model, data: str, profile, threads: int) -> dict:
    """What every chapter's key holds besides its code: the model's weights, the sentences, the profile,
    the machine, the threads and the library versions."""
    import dataclasses

    from ..core.fingerprints import library_versions, model_digest, sentences_digest
    from ..data.sst2 import load_sst2
    from ..routes.keys import machine

    splits = {name: load_sst2(data, name) for name in ("validation", "train")}
    return {"model": model_digest(model.model, model.tokenizer),
            "data": {name: sentences_digest(s.sentences, s.labels) for name, s in splits.items()},
            "profile": dataclasses.asdict(profile), "machine": machine(), "threads": threads,
            "libraries": library_versions(), "registry": registry_digest()}


def _chapter_rows(done: dict[str, dict]) -> list[dict]:
    """The chapters as the build record lists them, in book order."""
    return [{"chapter": stem, "title": c["title"], "executed": c["ran"], "seconds": round(c["seconds"], 2),
             **({"reused_from": c["made"]} if "made" in c else {})} for stem, c in done.items()]


def build_book(model=None, data=None, profile=None, seed: int = 0, repo: Path = REPO, log=print,
               site: Path | None = None, fresh: bool = False, store: Path | None = None,
               variants: str | list[str] | None = None, jobs: int = 1) -> Path:
    """Measure every route, execute the chapters (`jobs` at a time), then render the HTML book; returns
    its folder.

    Routes, measurements and executed chapters come from the store (`store`, default `$BOOK_STORE`,
    else `store/` in the repository) while nothing they depend on has changed; `fresh` recomputes
    everything once. Everything is built in `<site>/_build/next` (chapters, results, models, HTML); the
    previous book, results and models under `site` (default: the repository) are replaced only when
    the whole build has succeeded. A failed build leaves them as they were and says where its partial
    output is. `variants` limits the routes measured ahead (default: all; a test's small book).
    """
    from ..core.models import load_classifier
    from ..core.sources import resolve_data, resolve_model
    from ..data.sst2 import load_sst2
    from ..measure.environment import default_threads
    from ..measure.profiles import resolve_profile
    from ..routes.store import Store
    from ..teach.chapter import store_from_environment
    from ..routes.pipeline import run_comparison
    from ..routes.report import measurement_keys
    from ..routes.shapes import run_shape_comparison

    # Resolve here (argument → environment → default) so relative paths do not depend on the chapters' cwd,
    # and load both once so that an unreachable hub or a bad directory stops the build before any chapter runs.
    site = Path(site).resolve() if site else repo
    staging = site / "_build" / "next"
    chosen = resolve_profile(profile, os.environ)  # once, here: everything below is handed the Profile
    parameters = {"model": str(resolve_model(model)), "data": str(resolve_data(data)),
                  "profile": chosen.name, "seed": seed, "output_dir": str(staging / "results")}
    load_sst2(parameters["data"])
    fp32 = load_classifier(parameters["model"])
    began = time.time()
    store = Path(store).resolve() if store else store_from_environment(repo / "store").root
    routes_store = Store.at(store, began if fresh else None)
    saved = {name: os.environ.get(name) for name in ("BOOK_STORE", "BOOK_FRESH", "BOOK_FRESH_SINCE")}
    os.environ["BOOK_STORE"] = str(store)  # the chapters' kernels use the same store (their set-up reads it)
    if fresh:
        os.environ["BOOK_FRESH"], os.environ["BOOK_FRESH_SINCE"] = "1", str(began)

    shutil.rmtree(staging, ignore_errors=True)  # a failed build's leftovers, never the published book
    tree = staging / "tree"
    tree.mkdir(parents=True)
    kept = (f"The previous book ({site / '_build' / 'html'}), results and models are untouched; "
            f"this build's partial output is in {staging}.")
    start = time.perf_counter()
    results = staging / "results"
    clock = BuildClock(profile=chosen.name, jobs=jobs, threads=default_threads(), fresh=fresh,
                       model=display_name(parameters["model"]), data=display_name(parameters["data"]))
    try:
        log("measuring every route (from the store where nothing changed) …")
        with clock.step("routes", "every route of the registry built and measured, from the store where "
                                  "nothing it depends on changed"):
            comparison = run_comparison(parameters["model"], parameters["data"], chosen,
                                        results / "comparison.json", staging / "models", seed=seed,
                                        variants=variants, store=routes_store, headline=True)
        with clock.step("DistilBERT shape", "every route's size and latency on a DistilBERT-shaped model"):
            shape = run_shape_comparison(parameters["model"], parameters["data"], chosen,
                                         results / "distilbert_shape.json", seed=seed, variants=variants,
                                         store=routes_store)
        routes = {"comparison": comparison, "shape": shape}
        for kind, record in routes.items():
            clock.count_routes(record, kind)
        current = {kind: measurement_keys(record) for kind, record in routes.items()}
        log(f"  routes ready in {time.perf_counter() - start:.0f} s")
        with clock.step("chapter keys", "the model, the sentences and the machine fingerprinted"):
            context = build_context(fp32, parameters["data"], chosen, default_threads())
        cache = ChapterCache(store, fresh=fresh, log=log)

        def record_so_far(done: dict) -> None:  # what the build page shows: everything before it
            clock.chapters = _chapter_rows(done)
            write_json(clock.record(complete=False), results / BUILD_RECORD)

        with clock.step("chapters", f"every chapter executed by papermill ({jobs} at a time) or reused "
                                    "from the store"):
            chapters = execute_chapters(tree, parameters, repo, log, chosen.cell_timeout_s, cache, context,
                                        current, jobs, before_build_page=record_so_far)
        clock.chapters = _chapter_rows(chapters)
        with clock.step("render", "Jupyter Book renders the executed pages into HTML"):
            stage_sources(tree, repo)
            install_static_assets(tree / "_vendor", repo, staging / "models")
            render_html(tree, staging)
        write_json(clock.record(complete=True), results / BUILD_RECORD)
    except (BookError, subprocess.CalledProcessError) as err:
        raise BookError(f"{err}\n{kept}") from None
    except BaseException:  # Ctrl-C, a killed kernel…: still say where things are
        log(kept)
        raise
    finally:
        _restore_environment(saved)
    html = publish(staging, site)
    ran = [name for name, c in chapters.items() if c["ran"]]
    log(f"executed {len(ran)} of {len(chapters)} chapters ({sum(c['seconds'] for c in chapters.values()):.0f} s), "
        f"reused {len(chapters) - len(ran)}; book built in {time.perf_counter() - start:.0f} s → {html}")
    return html
