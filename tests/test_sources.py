from pathlib import Path

import pytest

from helpers import BookError, load_classifier, load_sst2
from conftest import REPO
from helpers.core.sources import DEFAULT_DATA, DEFAULT_MODEL, resolve_data, resolve_model


def test_argument_beats_environment_beats_default(monkeypatch, tmp_path):
    monkeypatch.delenv("BOOK_MODEL", raising=False)
    assert resolve_model().location == DEFAULT_MODEL and not resolve_model().is_local
    monkeypatch.setenv("BOOK_MODEL", str(tmp_path))
    env = resolve_model()
    assert env.is_local and Path(env.location) == tmp_path.resolve() and "BOOK_MODEL" in env.origin
    assert resolve_model("some-org/other-model").location == "some-org/other-model"


def test_data_defaults_to_hub_glue(monkeypatch):
    monkeypatch.delenv("BOOK_DATA", raising=False)
    assert resolve_data().location == DEFAULT_DATA and not resolve_data().is_local


def test_missing_local_directory_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOK_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(BookError, match="Data directory not found.*BOOK_DATA"):
        resolve_data()


def test_unreachable_hub_model_names_the_override(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BookError, match="BOOK_MODEL") as info:
        load_classifier("book-tests/no-such-model")
    assert "config.json" in str(info.value)  # says what a local copy must hold


def test_unreachable_hub_data_names_the_override(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BookError, match="BOOK_DATA") as info:
        load_sst2("book-tests/no-such-dataset")
    assert "validation.parquet" in str(info.value)


def test_a_page_shows_a_path_relative_to_the_book_never_the_machines(tmp_path):
    from helpers.core.sources import shown_path

    book, other = tmp_path / "book", tmp_path / "elsewhere"
    assert shown_path(book / "models" / "fp32", (other, book)) == "models/fp32"
    assert shown_path(other / "x" / "model", (book,)) == "…/model"
    assert shown_path(str(book / "results"), (book,)) == "results"


def test_no_layer_below_the_edges_reads_the_environment():
    """Environment variables are read where a run starts (the command line and the book build in
    `publish`, a chapter's set-up in `teach`) and where `core/sources` resolves the default model and
    data; everything below is handed what they resolved (a profile, a store)."""
    import re

    package = REPO / "helpers"
    readers = [str(p.relative_to(package)) for layer in ("core", "data", "measure", "methods", "routes")
               for p in sorted((package / layer).glob("*.py"))
               if re.search(r"os\.environ(?!\.setdefault)|getenv\(", p.read_text())]
    assert readers == ["core/sources.py"]
