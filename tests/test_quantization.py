import json

import pytest
import torch
from torch import nn

from helpers import (
    BookError,
    evaluate,
    fixed_subset,
    load_classifier,
    load_quantized,
    load_sst2,
    module_type_counts,
    quantize_dynamic_int8,
    quantized_copy,
    quantized_linear_names,
    save_classifier,
    save_quantized,
)


def _logits(clf, sentences):
    batch = clf.encode(sentences)
    with torch.inference_mode():
        return clf.model(**batch).logits


def test_every_linear_is_swapped_and_embeddings_stay_fp32(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    n_linear = sum(isinstance(m, nn.Linear) for m in clf.model.modules())
    q = quantize_dynamic_int8(clf.model)
    assert len(quantized_linear_names(q)) == n_linear
    assert not any(isinstance(m, nn.Linear) and not isinstance(m, torch.ao.nn.quantized.dynamic.Linear)
                   for m in q.modules())
    assert q.bert.embeddings.word_embeddings.weight.dtype == torch.float32
    before, after = module_type_counts(clf.model), module_type_counts(q)
    assert after["torch.ao.nn.quantized.dynamic.Linear"] == before["torch.nn.Linear"] == n_linear
    assert "torch.nn.Linear" not in after and after["torch.nn.Embedding"] == before["torch.nn.Embedding"]
    assert quantized_linear_names(clf.model) == []  # the original is untouched


def test_quantizing_hides_only_the_deprecation_notices_chapter_three_explains(tiny_bert):
    import warnings

    clf = load_classifier(str(tiny_bert))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.ao.quantization.quantize_dynamic(clf.model, {nn.Linear}, dtype=torch.qint8)
    assert any("deprecated" in str(w.message) for w in caught)  # the raw call does warn…
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantize_dynamic_int8(clf.model)
        warnings.warn("an unrelated warning still gets through")
    assert [str(w.message) for w in caught] == ["an unrelated warning still gets through"]  # …the helper not


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_distilbert", "shared_model"])
def test_quantized_round_trip_gives_identical_logits(request, tmp_path, fixture):
    clf = quantized_copy(load_classifier(str(request.getfixturevalue(fixture))))
    sentences = ["a gripping, beautifully acted drama", "flat and lifeless", "it is a movie"]
    save_quantized(clf, tmp_path / "q")
    back = load_quantized(tmp_path / "q")
    assert torch.equal(_logits(clf, sentences), _logits(back, sentences))
    assert quantized_linear_names(back.model) == quantized_linear_names(clf.model)
    assert back.max_length == clf.max_length


def test_loading_the_wrong_kind_of_checkpoint_is_refused(tmp_path, tiny_bert):
    clf = load_classifier(str(tiny_bert))
    save_classifier(clf, tmp_path / "fp32")
    with pytest.raises(BookError, match="holds no saved model: no route.json"):
        load_quantized(tmp_path / "fp32")
    save_quantized(quantized_copy(clf), tmp_path / "int8")
    with pytest.raises(BookError, match="saved by save_quantized: load it with load_route"):
        load_classifier(str(tmp_path / "int8"))
    manifest = json.loads((tmp_path / "int8" / "route.json").read_text())
    assert manifest["source"] == clf.source and manifest["max_length"] == clf.max_length  # said once, here
    (tmp_path / "int8" / "route.json").rename(tmp_path / "int8" / "quantization.json")  # as an older book saved
    with pytest.raises(BookError, match="older version of the book.*build it again"):
        load_quantized(tmp_path / "int8")
    with pytest.raises(BookError, match="no dynamically quantized Linear"):
        save_quantized(clf, tmp_path / "nope")


def test_int8_agrees_with_fp32_on_real_sentences(shared_model, shared_data):
    fp32 = load_classifier(str(shared_model))
    int8 = quantized_copy(fp32)
    data = fixed_subset(load_sst2(str(shared_data)), 64)
    a, b = evaluate(fp32, data, progress=False), evaluate(int8, data, progress=False)
    agreement = sum(x == y for x, y in zip(a.predictions, b.predictions)) / len(data)
    assert agreement >= 0.85
    assert abs(a.accuracy - b.accuracy) <= 0.1


def test_torchao_int8_runs_and_stays_close(tiny_bert):
    from helpers import quantize_torchao_int8

    clf = load_classifier(str(tiny_bert))
    q = quantize_torchao_int8(clf.model)
    sentences = ["a gripping drama", "flat and lifeless"]
    batch = clf.encode(sentences)
    with torch.inference_mode():
        ref, out = clf.model(**batch).logits, q(**batch).logits
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=0.05 + 0.05 * ref.abs().max())
    assert "Int8" in type(q.bert.encoder.layer[0].attention.self.query.weight).__name__
    assert clf.model.bert.encoder.layer[0].attention.self.query.weight.dtype == torch.float32  # copy, not in place


def test_weight_grid_is_the_per_tensor_symmetric_one_of_chapter_one(tiny_bert):
    from helpers.core.numerics import choose_qparams, quantize

    clf = load_classifier(str(tiny_bert))
    q = quantized_copy(clf).model
    for name in quantized_linear_names(q)[:3]:
        fp32_weight = clf.model.get_submodule(name).weight.detach()
        qweight = q.get_submodule(name).weight()
        ours = choose_qparams(fp32_weight, bits=8, symmetric=True)
        assert qweight.q_zero_point() == 0  # symmetric observer: the grid is centred on 0
        assert qweight.q_scale() == pytest.approx(float(ours.scale), rel=1e-6)
        assert (quantize(fp32_weight, ours) - qweight.int_repr().long()).abs().max() <= 1


def test_weight_sqnr_scan_covers_every_linear_layer(tiny_bert):
    from helpers.methods.quantization import weight_sqnr_by_layer

    model = load_classifier(str(tiny_bert)).model
    rows = weight_sqnr_by_layer(model)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert [r["layer"] for r in rows] == linears
    assert all(0 < r["per_tensor_db"] < 100 and 0 < r["per_channel_db"] < 100 for r in rows)
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    assert mean("per_channel_db") >= mean("per_tensor_db")
    assert mean("per_tensor_db") - sum(r["per_tensor_db"] for r in weight_sqnr_by_layer(model, bits=4)) / len(rows) > 15
