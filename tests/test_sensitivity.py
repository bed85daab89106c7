"""Per-layer sensitivity and the mixed-precision scan, on a tiny model and real sentences."""

import numpy as np
import pytest
from torch import nn

from helpers import BookError, load_classifier
from helpers.methods.quantization import quantize_dynamic_int8, quantized_linear_names
from helpers.methods.sensitivity import (drift, keep_fp32, layer_sensitivity, linear_layer_names, mixed_precision_scan,
                                 mixed_precision_tradeoff, p_positive, pick_k,
                                         with_int8_layers)

SENTENCES = ["a gripping, beautifully acted drama", "flat and lifeless", "it is a movie , and it has a plot .",
             "not bad at all", "the cast is wonderful and the script is sharp , funny and sad", "tedious"]


def test_only_the_named_layers_are_quantized(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    names = linear_layer_names(clf.model)
    assert names and all(type(clf.model.get_submodule(n)) is nn.Linear for n in names)
    one = with_int8_layers(clf, {names[0]})
    assert quantized_linear_names(one.model) == [names[0]]
    assert type(clf.model.get_submodule(names[0])) is nn.Linear  # the original is untouched
    with pytest.raises(ValueError, match="Not Linear layers"):
        quantize_dynamic_int8(clf.model, layers={"bert.embeddings"})


def test_drift_counts_flips_and_probability_moves():
    result = drift(np.array([0.9, 0.2, 0.6]), np.array([0.8, 0.7, 0.6]))
    assert result["flipped"] == 1
    assert result["mean_abs_dp"] == pytest.approx((0.1 + 0.5 + 0) / 3) and result["max_abs_dp"] == pytest.approx(0.5)


def test_every_layer_is_ranked_and_keeping_all_in_fp32_means_no_drift(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    ranking = layer_sensitivity(clf, SENTENCES, batch_size=4)
    assert sorted(r["layer"] for r in ranking) == sorted(linear_layer_names(clf.model))
    keys = [(r["flipped"], r["mean_abs_dp"]) for r in ranking]
    assert keys == sorted(keys, reverse=True)
    n = len(ranking)
    scan = mixed_precision_scan(clf, ranking, SENTENCES, (0, n), batch_size=4)
    assert scan[1]["flipped"] == 0 and scan[1]["mean_abs_dp"] == 0  # every layer FP32: FP32 itself
    assert scan[0]["fp32_layers"] == [] and scan[1]["fp32_layers"] == [r["layer"] for r in ranking]
    with pytest.raises(BookError, match="labels"):
        pick_k(scan)  # a scan without labels cannot choose
    with pytest.raises(BookError):
        mixed_precision_scan(clf, ranking, SENTENCES, (n + 1,))
    with pytest.raises(BookError, match="train split"):
        layer_sensitivity(clf, [])


def test_k_is_the_smallest_with_the_best_held_out_accuracy(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    ranking = layer_sensitivity(clf, SENTENCES, batch_size=4)
    n = len(ranking)
    positive = clf.positive_index
    # labels that FP32 (k = n: every layer FP32) gets all right, so no k can beat it
    labels = [positive if p > 0.5 else 1 - positive for p in p_positive(clf, SENTENCES, batch_size=4)]
    scan = mixed_precision_scan(clf, ranking, SENTENCES, (0, 1, n), batch_size=4, labels=labels)
    assert scan[-1]["accuracy"] == 1.0
    assert pick_k(scan) == min(r["k"] for r in scan if r["accuracy"] == 1.0)
    assert pick_k([{"k": 0, "accuracy": 0.9}, {"k": 2, "accuracy": 0.9}, {"k": 4, "accuracy": 0.8}]) == 0
    assert pick_k([{"k": 0, "accuracy": 0.8}, {"k": 2, "accuracy": 0.9}, {"k": 4, "accuracy": 0.9}]) == 2
    with pytest.raises(BookError, match="labels for"):
        mixed_precision_scan(clf, ranking, SENTENCES, (0,), labels=[1])


def test_int8_mixed_records_its_choice_and_round_trips(tmp_path, tiny_bert):
    import torch

    from helpers import VARIANTS, BuildInputs, SentimentData, build_variant

    clf = load_classifier(str(tiny_bert))
    from helpers.routes.configs import RunSettings

    held_out = SentimentData(SENTENCES, [1, 0, 1, 1, 1, 0], ("negative", "positive"), "test", "train")
    config = VARIANTS["int8_mixed"].configure(RunSettings(held_out_sentences=len(SENTENCES)))
    with pytest.raises(BookError, match="held-out"):
        build_variant(VARIANTS["int8_mixed"], clf, config, BuildInputs(SENTENCES, 1, tmp_path))
    built, details, _ = build_variant(VARIANTS["int8_mixed"], clf, config,
                                      BuildInputs([], 1, tmp_path, held_out=held_out))
    k = details["k"]
    assert k == pick_k(details["scan"]) and all("accuracy" in r for r in details["scan"])
    assert details["fp32_layers"] == [r["layer"] for r in details["sensitivity"][:k]]
    kept = set(linear_layer_names(built.model))  # nn.Linear left in the quantized model: the FP32 ones
    assert kept == set(details["fp32_layers"])
    VARIANTS["int8_mixed"].save(built, tmp_path / "saved")
    back = VARIANTS["int8_mixed"].load(tmp_path / "saved", 1)
    batch = clf.encode(SENTENCES)
    with torch.inference_mode():
        assert torch.equal(built.model(**batch).logits, back.model(**batch).logits)


def test_the_tradeoff_measures_each_k_and_all_fp32_is_fp32(tiny_bert):
    from helpers import SentimentData, evaluate, model_bytes

    clf = load_classifier(str(tiny_bert))
    ranking = layer_sensitivity(clf, SENTENCES, batch_size=4)
    n = len(ranking)
    examples = SentimentData(SENTENCES, [1, 0, 1, 1, 1, 0], ("negative", "positive"), "test", "validation")
    rows = mixed_precision_tradeoff(clf, ranking, (0, 2, n), examples, SENTENCES[:3], threads=1, batch_size=4)
    assert [r["k"] for r in rows] == [0, 2, n]
    assert rows[-1]["size_bytes"] == model_bytes(clf.model)  # every layer FP32: the FP32 model
    assert rows[-1]["accuracy"] == evaluate(clf, examples, 4, progress=False).accuracy
    assert rows[0]["size_bytes"] < rows[1]["size_bytes"] < rows[2]["size_bytes"]
    assert all(r["accuracy_ci95"][0] <= r["accuracy"] <= r["accuracy_ci95"][1] and r["latency_ms"] > 0 for r in rows)
    assert set(linear_layer_names(keep_fp32(clf, ranking, 2).model)) == {r["layer"] for r in ranking[:2]}
    with pytest.raises(BookError, match="k must be"):
        keep_fp32(clf, ranking, -1)
