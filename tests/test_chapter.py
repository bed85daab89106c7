"""What chapters call: setup, the reusable comparison record, and the playground's logic."""

import json

import pytest

from helpers import BookError, comparison_for, load_classifier, quantized_copy, setup_chapter
from helpers.teach.widgets import compare_on_sentence, quantization_playground, sentence_playground


def test_setup_resolves_parameters_from_the_environment(monkeypatch, tmp_path, tiny_bert, tiny_data):
    monkeypatch.setenv("BOOK_MODEL", str(tiny_bert))
    monkeypatch.setenv("BOOK_DATA", str(tiny_data))
    monkeypatch.setenv("BOOK_PROFILE", "smoke")
    chapter = setup_chapter(output_dir=tmp_path / "results", threads=1)
    assert (chapter.model, chapter.data, chapter.profile.name) == (str(tiny_bert), str(tiny_data), "smoke")
    assert chapter.output_dir.is_dir() and chapter.models_dir == tmp_path / "models"
    assert len(chapter.examples()) == 30  # smoke asks for 48: the whole 30-row split
    assert set(chapter.latency_sentences()) <= set(chapter.examples().sentences)
    shown = chapter.describe()  # the page's first lines: names, the machine and the commit, no paths
    assert f"model: {tiny_bert.name}" in shown and f"data: {tiny_data.name}" in shown and "commit " in shown
    assert str(tmp_path) not in shown and str(tiny_bert.parent) not in shown
    assert chapter.shown(tmp_path / "models" / "quantized") == "models/quantized"
    with pytest.raises(BookError, match="Unknown profile"):
        setup_chapter(profile="medium", output_dir=tmp_path)


def test_comparison_for_writes_the_whole_record_and_notes_what_it_read(monkeypatch, tmp_path, tiny_bert,
                                                                       tiny_data):
    chapter = setup_chapter(str(tiny_bert), str(tiny_data), "smoke", 0, tmp_path / "results", threads=1)
    reads = tmp_path / "reads.jsonl"
    monkeypatch.setenv("BOOK_READS", str(reads))
    some = comparison_for(chapter, progress=False, variants="int8_dynamic")
    # with every FP32 route of the same model: the baselines of the speedups the chapter shows
    assert list(some["routes"]) == ["fp32", "fp32_compiled", "onnx_fp32", "int8_dynamic"]
    assert some["n_examples"] == 30
    assert not chapter.comparison_path.exists()  # a chapter's subset never replaces the whole record
    assert (tmp_path / "store" / "models" / "int8_dynamic").is_dir()  # the store beside results/
    noted = [json.loads(line) for line in reads.read_text().splitlines()]
    assert noted == [{"kind": "comparison", "keys": {n: v["provenance"]["key"] for n, v in some["routes"].items()}}]
    again = comparison_for(chapter, progress=False, variants="int8_dynamic")
    assert {v["provenance"]["this_run"] for v in again["routes"].values()} == {"reused from the store"}
    other_seed = setup_chapter(str(tiny_bert), str(tiny_data), "smoke", 1, tmp_path / "results", threads=1)
    fresh = comparison_for(other_seed, progress=False, variants="int8_dynamic")
    assert {v["provenance"]["this_run"] for v in fresh["routes"].values()} == {"measured"}


def test_compare_on_sentence_reports_both_models(tiny_bert):
    fp32 = load_classifier(str(tiny_bert))
    variants = {"FP32": fp32, "INT8 dynamic": quantized_copy(fp32)}
    table = compare_on_sentence(variants, "a fine film " * 40, threads=1, runs=3)
    assert list(table.index) == ["FP32", "INT8 dynamic"]
    assert set(table["label"]) <= set(fp32.label_names)
    assert table["truncated"].all()  # 120 words exceed the tiny model's 64 tokens
    assert ((0 <= table["P(positive)"]) & (table["P(positive)"] <= 1)).all()


def test_playground_widgets_build(tiny_bert):
    fp32 = load_classifier(str(tiny_bert))
    box = sentence_playground({"FP32": fp32}, threads=1, sentence="fine")
    text, result = box.children
    assert text.value == "fine" and "P(positive)" in result.value
    text.value = "   "
    assert result.value == "<p>Type a sentence.</p>"
    text.value = "a different, longer sentence"
    assert "P(positive)" in result.value
    grid = quantization_playground(fp32.model.bert.encoder.layer[0].attention.self.query.weight.detach(), bits=3)
    controls, image = grid.children
    first = bytes(image.value)
    assert controls.children[0].value == 3 and first.startswith(b"\x89PNG")
    controls.children[0].value = 6
    assert bytes(image.value).startswith(b"\x89PNG") and bytes(image.value) != first  # redrawn for the new bit width


def test_glued_numpy_numbers_are_glued_as_python_numbers(monkeypatch):
    import myst_nb
    import numpy as np

    from helpers import glue_values

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.update({name: value}))
    glue_values(p=np.float64(0.25), n=np.int64(3), flag=np.bool_(True), label="INT8", x=1.5)
    assert glued == {"p": 0.25, "n": 3, "flag": True, "label": "INT8", "x": 1.5}
    assert [type(glued[k]) for k in ("p", "n", "flag")] == [float, int, bool]  # their repr is what prose shows
