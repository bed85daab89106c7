"""Low-bit weights with INT8 activations: post-training and quantization-aware, on tiny and shared models."""

import pytest
import torch

from helpers import BookError, BuildInputs, SentimentData, VARIANTS, build_variant, load_classifier
from helpers.methods.configs import IntxWeights, QatIntx
from helpers.methods.qat import intx_grid, load_intx, qat_prepare, quantize_intx, save_intx, train_qat
from helpers.routes.configs import RunSettings

SENTENCES = ["a gripping, beautifully acted drama", "flat and lifeless", "it is a movie , and it has a plot .",
             "not bad at all", "the cast is wonderful and the script is sharp , funny and sad", "tedious"]
DATA = SentimentData(SENTENCES, [1, 0, 0, 1, 1, 0], ("negative", "positive"), "test", "train")


def logits(clf, sentences=SENTENCES):
    with torch.inference_mode():
        return clf.model(**clf.encode(sentences)).logits


def test_every_linear_weight_lands_on_a_3_bit_grid_per_channel(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    model = quantize_intx(clf.model, IntxWeights())
    assert intx_grid(model) == {"bits": 3, "group_size": None}
    weight = model.bert.encoder.layer[0].intermediate.dense.weight
    assert int(weight.qdata.min()) >= -4 and int(weight.qdata.max()) <= 3  # 8 levels, symmetric
    assert type(clf.model.bert.encoder.layer[0].intermediate.dense.weight) is torch.nn.Parameter  # a copy
    with pytest.raises(BookError, match="2 to 7 bits"):
        quantize_intx(clf.model, IntxWeights(bits=8))


def test_a_saved_low_bit_model_reloads_to_identical_logits(tmp_path, tiny_distilbert):
    clf = load_classifier(str(tiny_distilbert))
    quantized = clf.with_model(quantize_intx(clf.model, IntxWeights(bits=4, group_size=32)))
    save_intx(quantized, tmp_path)
    back = load_intx(tmp_path)
    assert intx_grid(back.model) == {"bits": 4, "group_size": 32}
    assert torch.equal(logits(quantized), logits(back))
    from helpers.methods.quantization import quantize_dynamic_int8, save_quantized

    save_quantized(clf.with_model(quantize_dynamic_int8(clf.model)), tmp_path / "int8")
    with pytest.raises(BookError, match="not saved by save_intx"):
        load_intx(tmp_path / "int8")


def test_qat_trains_through_the_fake_quantized_grid_and_keeps_the_best_held_out_step(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    prepared = qat_prepare(clf.model, IntxWeights())
    assert sum("FakeQuantized" in type(m).__name__ for m in prepared.modules()) > 0
    config = QatIntx(steps=4, train_sentences=None, held_out_sentences=len(DATA), points=2, lr=1e-3, alpha=0.0)
    before = {n: p.detach().clone() for n, p in clf.model.named_parameters()}
    converted, details = train_qat(clf, DATA, DATA, config)
    assert all(torch.equal(p, before[n]) for n, p in clf.model.named_parameters())  # the original is untouched
    assert intx_grid(converted.model) == {"bits": 3, "group_size": None}
    assert [s for s, _ in details["held_out_curve"]] == [0, 2, 4] and len(details["losses"]) == 4
    kls = dict(details["held_out_kl_curve"])
    assert kls[0] > 0  # step 0 is the post-training model: rounding moved its answers from FP32's
    closest = min(kls.values())
    assert details["chosen_step"] == min(s for s, kl in kls.items() if kl == closest)
    assert details["held_out_accuracy"] == dict(details["held_out_curve"])[details["chosen_step"]]
    assert details["ptq_twin"] == "ptq_int3_weights" and details["ptq_twin"] in VARIANTS
    with pytest.raises(BookError, match="held-out"):
        train_qat(clf, DATA, DATA.subset([]), config)


def test_the_qat_route_needs_held_out_sentences_and_names_its_twin(tmp_path, tiny_bert):
    clf = load_classifier(str(tiny_bert))
    run = RunSettings(train_sentences=len(DATA), distill_sentences=len(DATA), held_out_sentences=len(DATA),
                      qat_steps=2)
    variant = VARIANTS["qat_int3_weights"]
    config = variant.configure(run)
    assert config.ptq_twin == "ptq_int3_weights" and VARIANTS[config.ptq_twin].precision == variant.precision
    with pytest.raises(BookError, match="held-out"):
        build_variant(variant, clf, config, BuildInputs([], 1, tmp_path, train=DATA))
    built, chosen, _ = build_variant(variant, clf, config, BuildInputs([], 1, tmp_path, train=DATA, held_out=DATA))
    assert chosen["chosen_step"] in (0, 1, 2)


def test_qat_learns_from_the_fp32_models_soft_targets(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    config = QatIntx(steps=2, train_sentences=None, held_out_sentences=len(DATA), points=2, lr=1e-3)
    assert config.alpha == 1.0 and "held-out" in config.settings_selected_on
    _, soft = train_qat(clf, DATA, DATA, config)
    from dataclasses import replace

    _, hard = train_qat(clf, DATA, DATA, replace(config, alpha=0.0))
    # the same batches and the same model: only the targets differ, and so do the losses
    assert len(soft["losses"]) == len(hard["losses"]) == 2 and soft["losses"] != hard["losses"]
    assert all(x >= 0 for x in soft["losses"])  # a KL divergence and a cross-entropy: never negative
