"""The live page over HTTP in headless Chromium: both ONNX models run in the browser and agree with
ONNX Runtime in Python; every request stays on the local server; no JavaScript error."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from test_book_html import (CHROMIUM, HTML, MACHINE_PATHS, SHOTS, THEME_NOISE, _require_book,  # noqa: F401
                            browser)  # (the fixture)

pytestmark = pytest.mark.browser
LIVE = HTML / "_static" / "live"
SENTENCES = [
    "a gentle, funny and quietly moving film",
    "flat, lifeless and far too long",
    "not bad at all",
    "the plot is thin , the pacing drags , and yet the performances are superb .",
]


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".wasm": "application/wasm"}

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def server():
    _require_book()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(HTML)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def is_favicon(where) -> bool:
    """The browser's own request for /favicon.ico at the server's root: not the book's."""
    url = where.get("url", "") if isinstance(where, dict) else where.url
    return url.endswith("/favicon.ico")


def python_answers(manifest: dict) -> dict[str, list[tuple[str, float]]]:
    """Label and P(positive) of each sentence from ONNX Runtime in Python, on the files the page serves."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(LIVE / "model")
    answers = {}
    for variant in manifest["variants"]:
        session = ort.InferenceSession(str(LIVE / variant["file"]), providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        rows = []
        for sentence in SENTENCES:
            encoded = tokenizer(sentence, truncation=True, max_length=manifest["max_length"], return_tensors="np")
            logits = session.run(["logits"], {k: v.astype(np.int64) for k, v in encoded.items() if k in wanted})[0][0]
            p = np.exp(logits - logits.max())
            p /= p.sum()
            rows.append((manifest["label_names"][int(p.argmax())], float(p[manifest["positive_index"]])))
        answers[variant["name"]] = rows
    return answers


def test_both_models_classify_in_the_browser_and_agree_with_python(browser, server):  # noqa: F811
    manifest = json.loads((LIVE / "manifest.json").read_text())
    assert [v["name"] for v in manifest["variants"]] == ["onnx_fp32", "onnx_int8_dynamic"]
    expected = python_answers(manifest)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, outside, missing = [], [], []

    def record(text: str) -> None:
        if not any(noise in text for noise in THEME_NOISE):
            errors.append(text)

    page.on("pageerror", lambda exc: record(str(exc)))
    page.on("console", lambda msg: record(msg.text) if msg.type == "error" and not is_favicon(msg.location) else None)
    page.on("request", lambda req: None if req.url.startswith((server, "data:", "blob:")) else outside.append(req.url))
    page.on("response", lambda res: missing.append(res.url) if res.status >= 400 and not is_favicon(res) else None)
    page.goto(f"{server}/book/live.html", wait_until="load")
    page.wait_for_selector("#live-run:not([disabled])", timeout=60_000)
    sizes = page.locator(".live-size").all_inner_texts()
    assert all("MiB" in text for text in sizes) and len(sizes) == 2
    assert not [p for p in MACHINE_PATHS if p in page.inner_text("main")], "the page shows a machine's path"

    measured = {}
    for i, sentence in enumerate(SENTENCES):
        page.fill("#live-sentence", sentence)
        page.click("#live-run")
        page.wait_for_function(
            """s => [...document.querySelectorAll('.live-result')].every(
                   el => el.dataset.state === 'done' && el.dataset.sentence === s)""",
            arg=sentence, timeout=180_000)
        for variant, rows in expected.items():
            card = page.locator(f'.live-result[data-variant="{variant}"]')
            label, p_positive = rows[i]
            assert card.get_attribute("data-label") == label, (variant, sentence)
            assert abs(float(card.get_attribute("data-p-positive")) - p_positive) <= 1e-3, (variant, sentence)
            assert float(card.get_attribute("data-ms")) > 0
            measured.setdefault(variant, []).append(float(card.get_attribute("data-ms")))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "book__live.png"), full_page=True)
    (SHOTS / "live_latency_ms.json").write_text(json.dumps(measured, indent=2))  # for the closing note
    assert not missing, f"not found: {missing}"
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"the page asked the network for {outside[:3]}"
    assert page.inner_text("#live-threads")  # says whether WebAssembly threads are available


def test_the_live_page_refuses_an_empty_sentence(browser, server):  # noqa: F811
    page = browser.new_page()
    page.goto(f"{server}/book/live.html", wait_until="load")
    page.wait_for_selector("#live-run:not([disabled])", timeout=60_000)
    page.fill("#live-sentence", "   ")
    page.click("#live-run")
    assert "empty" in page.inner_text("#live-status")
    assert page.locator('.live-result[data-state="done"]').count() == 0
