"""The built HTML book, opened in real headless Chromium: every page renders, nothing is broken.

Runs when `_build/html` exists (after `make book`); `make test` builds it first and sets
BOOK_REQUIRE_HTML=1 so that a missing book fails instead of skipping. BOOK_SITE names the folder
that holds the book and its records (`build-book --site`; default: the repository): `make test`
checks the book built with the shared MiniLM (BERT) and the one built with a DistilBERT classifier.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import REPO, SHARED
from helpers.publish.book_build import toc_files

pytestmark = pytest.mark.browser
SITE = Path(os.environ.get("BOOK_SITE") or REPO).resolve()
HTML = SITE / "_build" / "html"
SHOTS = SITE / "_build" / "screenshots"
RESULTS = SITE / "results"
# Paths of the machine that built the book: a page names its model and data, never where they lie.
MACHINE_PATHS = tuple({str(REPO.parent), str(SHARED), str(SHARED.parent)})
# The one console error raised by the Sphinx theme itself, not by the book: pydata-sphinx-theme finds no
# stored theme under file:// (over HTTP it does). Any other error fails the page.
THEME_NOISE = ("Got invalid theme mode",)
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _require_book():
    if not (HTML / "index.html").is_file():
        if os.environ.get("BOOK_REQUIRE_HTML") == "1":
            pytest.fail(f"no built book at {HTML}: run `make book` first")
        pytest.skip("no built book (run `make book`)")
    if CHROMIUM is None:
        pytest.fail("headless Chromium not found (install Debian's `chromium`, or set CHROMIUM)")


@pytest.fixture(scope="module")
def browser():
    _require_book()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield instance
        instance.close()


PAGES = toc_files(REPO)
HTTP_ONLY = ("book/live",)  # runs modules, which browsers refuse over file://: see test_live_page.py


@pytest.mark.parametrize("doc", [doc for doc in PAGES if doc not in HTTP_ONLY])
def test_page_renders_completely(browser, doc):
    page_file = HTML / f"{doc}.html"
    assert page_file.is_file(), f"{doc} was not built"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, outside = [], []

    def record(text: str) -> None:
        if not any(noise in text for noise in THEME_NOISE):
            errors.append(text)

    page.on("pageerror", lambda exc: record(str(exc)))
    page.on("console", lambda msg: record(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(page_file.as_uri(), wait_until="load")
    page.wait_for_timeout(1500)  # MathJax and the widget manager render after load

    body = page.inner_text("main")
    shown = [p for p in MACHINE_PATHS if p in body]
    assert not shown, f"the page shows a path of the machine that built it: {shown}"
    assert "Traceback" not in body and "Error" not in page.eval_on_selector_all(
        "div.output.error, div.output.traceback", "els => els.map(e => e.innerText).join()")
    assert page.locator("div.output.stderr").count() == 0, "a cell wrote to stderr"
    broken = page.eval_on_selector_all("main img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert broken == [], f"images that did not load: {broken}"
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"the page asked the network for {outside[:3]}"
    for href in page.eval_on_selector_all("main a[href]", "as => as.map(a => a.getAttribute('href'))"):
        url = urlparse(href)
        if url.scheme or url.netloc or not url.path:
            continue
        target = (page_file.parent / unquote(url.path)).resolve()
        assert target.is_file(), f"broken internal link {href} on {doc}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{doc.replace('/', '_')}.png"), full_page=True)

    if doc.startswith("chapters/"):
        assert "commit " in body and "run on " in body, "a chapter that does not say where its numbers come from"
        assert page.locator("main img").count() >= 1, "a chapter without figures"
        assert page.locator("main .cell_input").count() >= 3
        assert "injected-parameters" not in page.content()
    if page.locator("main .math").count():
        assert page.locator("main mjx-container").count() >= 1, "equations were not typeset by MathJax"
    page.close()


def test_playground_shows_saved_widgets(browser):
    page = browser.new_page()
    page.goto((HTML / "chapters" / "05_playground.html").as_uri(), wait_until="load")
    page.wait_for_timeout(2000)
    assert page.locator(".widget-slider, .widget-hslider").count() >= 1, "the bit-width slider did not render"
    assert page.locator("textarea").count() >= 1, "the sentence box did not render"
    assert page.locator(".jupyter-widgets img").count() >= 1, "the saved figure did not render"
    assert page.locator(".widget-html table").count() >= 1, "the saved FP32/INT8 table did not render"
    assert "live only in Jupyter" in page.inner_text("main")
    page.close()


def assert_pages_show(browser, expected: dict[str, list[str]], source: str) -> None:
    """Every page of `expected` shows each of its values somewhere in its main text."""
    for doc, values in expected.items():
        page = browser.new_page()
        page.goto((HTML / f"{doc}.html").as_uri(), wait_until="load")
        text = page.inner_text("main")
        missing = [v for v in values if v not in text]
        assert not missing, f"{doc} does not show {missing} from {source}"
        page.close()


def test_the_build_s_records_and_the_gallery_share_one_schema():
    """The comparison and the DistilBERT shape this build wrote, and the committed machine records:
    one schema version, and every route in the one shape (`record.RouteResult`)."""
    from helpers.publish.bench import machine_records
    from helpers.routes.record import MEASURED_FIELDS, SCHEMA_VERSION, load_record

    _require_book()
    records = [load_record(RESULTS / "comparison.json", "comparison"),
               load_record(RESULTS / "distilbert_shape.json", "shape"), *machine_records(REPO / "results" / "machines")]
    assert {r["kind"] for r in records} == {"comparison", "shape", "machine"}
    for record in records:
        assert record["schema_version"] == SCHEMA_VERSION
        # an emulated record times nothing, so it has no fastest FP32 route
        assert record["best_fp32"] in record["routes"] or (record.get("emulated") and record["best_fp32"] is None)
        for entry in record["routes"].values():
            if "skipped" not in entry:
                assert all(k in entry or k in entry.get("absent", {}) for k in MEASURED_FIELDS)
    for path in (REPO / "results" / "machines").glob("*.json"):  # committed in today's shape, not upgraded
        assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION, path


def test_glued_numbers_match_the_comparison_record(browser):
    record = json.loads((RESULTS / "comparison.json").read_text())
    fp32, int8 = record["routes"]["fp32"], record["routes"]["int8_dynamic"]
    acc = [f"{100 * fp32['accuracy']:.2f}%", f"{100 * int8['accuracy']:.2f}%"]
    size = [f"{fp32['size_bytes'] / 2**20:.1f} MiB", f"{int8['size_bytes'] / 2**20:.1f} MiB"]
    latency = [f"{fp32['latency']['median']:.2f} ms", f"{int8['latency']['median']:.2f} ms"]
    expected = {
        "book/intro": acc + size + latency,
        "chapters/02_fp32_baseline": [acc[0], size[0], latency[0]],
        "chapters/03_dynamic_quantization": acc + size + latency,
        "chapters/04_benchmark": acc + size + latency,
    }
    assert_pages_show(browser, expected, "results/comparison.json")


def test_the_closing_chapter_and_the_intro_quote_this_builds_routes(browser):
    from helpers import recommend, shape_rows, summaries
    from helpers.core.sources import display_name
    from helpers.routes.headline import headline_summary

    record = json.loads((RESULTS / "comparison.json").read_text())
    shape = json.loads((RESULTS / "distilbert_shape.json").read_text())
    rows = {r["name"]: r for r in summaries(record)}
    smallest = rows[recommend(record)["same_model"]["smallest"]]  # accuracy first, then size
    fastest = headline_summary(record)["fastest"]  # by the round-robin of the contenders, not one-shot
    assert fastest is not None, "the record's headline found no route that keeps the accuracy"
    shape_fp32 = next(r for r in shape_rows(shape) if r["route"] == "fp32")
    lo, hi = fastest["vs_fp32_eager"]["ci95"]
    common = [fastest["label"], f"{fastest['vs_fp32_eager']['ratio']:.2f}×", f"[{lo:.2f}, {hi:.2f}]",
              smallest["label"], f"{smallest['size_pct']:.0f}%"]
    expected = {
        "book/intro": common + [display_name(record["model"])],
        "chapters/14_choosing_a_route": common + [f"{shape_fp32['size_mib']:.1f} MiB"]
        + [r["label"] for r in rows.values()],
    }
    assert_pages_show(browser, expected, "this build's records")


def test_the_build_page_shows_this_builds_own_record(browser):
    from helpers.measure.build_record import PAGE, load_build_record

    record = load_build_record(RESULTS / "build.json")
    assert record["complete"], "the published record is written after rendering"
    shown = [record["commit"] or "unknown", record["machine"]["cpu"], record["machine"]["int8_class"]]
    shown += [c["title"] for c in record["chapters"] if c["chapter"] != PAGE]
    assert_pages_show(browser, {f"chapters/{PAGE}": shown}, "results/build.json")


def test_the_machine_gallery_and_the_advice_per_instruction_set_are_the_committed_records(browser):
    from helpers.publish.bench import advice_per_class, machine_records

    records = machine_records(REPO / "results" / "machines")
    assert records, "the book commits at least the record of one machine it was built on"
    record = json.loads((RESULTS / "comparison.json").read_text())
    optimized = record["routes"]["onnx_int8_optimized"]
    expected = {
        # a measured machine by its name in the gallery, an emulated one by the CPU model qemu emulated
        "chapters/12_int8_on_your_cpu": [r["emulated"]["cpu_model"] if r.get("emulated") else r["machine"]["cpu"]
                                         for r in records]
        + [r["machine"]["int8_class"] for r in records]
        + [f"{optimized['latency']['median']:.2f} ms", optimized["config"]["preset"]],
        "chapters/14_choosing_a_route": [a["deploy"] for a in advice_per_class(records)]
        + [f"{a['vs best FP32']:.2f}" for a in advice_per_class(records) if a["vs best FP32"] is not None],
    }
    assert_pages_show(browser, expected, "results/machines and results/comparison.json")


def test_the_statistics_quoted_are_the_records(browser):
    from helpers.routes.report import statistics_rows
    from helpers.routes.variants import introduced_by

    record = json.loads((RESULTS / "comparison.json").read_text())
    rows = statistics_rows(record)
    fp32_lo, fp32_hi = (100 * x for x in rows[0]["accuracy_ci95"])
    dynamic = record["routes"]["int8_dynamic"]["vs_fp32"]

    def timed_beside_fp32(chapter):  # each chapter shows the routes introduced by then, no later one
        return [r for r in rows if "speedup" in r and r["route"] in introduced_by(chapter)]

    in_9 = timed_beside_fp32(9)
    fp32_runs = [r["fp32_interleaved_ms"] for r in timed_beside_fp32(4)]
    expected = {
        "chapters/09_is_it_real": [f"from {fp32_lo:.1f}% to {fp32_hi:.1f}%", f"p = {dynamic['mcnemar_p']:.2f}"]
        + [f"{r['speedup']:.2f}×" for r in in_9] + [f"{r['delta_pts']:+.2f}" for r in in_9],
        "chapters/07_embeddings": [f"k = {record['routes']['int8_mixed']['details']['k']}"],
        "chapters/04_benchmark": [f"from {min(fp32_runs):.2f} to {max(fp32_runs):.2f} ms"],
    }
    assert_pages_show(browser, expected, "results/comparison.json")


@pytest.mark.parametrize("doc", [doc for doc in PAGES if doc.startswith("chapters/")])
def test_chapters_offer_binder_and_colab_for_this_repository(doc):
    _require_book()
    import yaml

    repository = urlparse(yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]).path.strip("/")
    html = (HTML / f"{doc}.html").read_text()
    assert f"https://mybinder.org/v2/gh/{repository}/main?urlpath=lab/tree/{doc}.ipynb" in html
    assert f"https://colab.research.google.com/github/{repository}/blob/main/{doc}.ipynb" in html


def test_the_downloadable_notebooks_name_no_path_of_the_machine():
    """The executed notebooks behind each page's download button: papermill's injected parameters
    and metadata say which model and data, relative to the book, never where they lay."""
    _require_book()
    sources = sorted((HTML / "_sources").glob("**/*.ipynb"))
    assert sources
    for path in sources:
        text = path.read_text()
        assert not [p for p in MACHINE_PATHS if p in text], path.name


@pytest.mark.parametrize("doc", [doc for doc in PAGES if doc.startswith("chapters/")])
def test_no_chapter_shows_a_route_before_the_chapter_that_introduces_it(doc):
    """The book's path runs forward: chapter n's tables, figures and text name no route that a later
    chapter introduces (each registry entry says which chapter that is)."""
    _require_book()
    from helpers import VARIANTS

    stem = Path(doc).name
    number = int(stem.split("_")[0]) if stem[:2].isdigit() else float("inf")  # back matter: after them all
    text = (HTML / f"{doc}.html").read_text()
    later = [v.label for v in VARIANTS.values() if v.chapter > number and v.label in text]
    assert not later, f"{doc} shows routes that later chapters introduce: {later}"
