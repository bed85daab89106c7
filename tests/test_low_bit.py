"""Weights below 8 bits, simulated: rounding every Linear weight, and where the error comes from."""

import torch

from helpers import evaluate, load_classifier
from helpers.methods.low_bit import GRANULARITIES, layer_errors, linear_weights, usable, weights_fake_quantized


def test_rounding_changes_the_weights_of_a_copy_and_nothing_else(tiny_bert):
    fp32 = load_classifier(str(tiny_bert))
    before = {k: v.clone() for k, v in fp32.model.state_dict().items()}
    rounded = weights_fake_quantized(fp32, 2, "tensor")
    assert all(torch.equal(v, fp32.model.state_dict()[k]) for k, v in before.items())  # the original untouched
    linear = {f"{name}.weight" for name, _ in linear_weights(rounded.model)}
    changed = {k for k, v in rounded.model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == linear  # every Linear weight rounded; biases, LayerNorms and embeddings FP32
    for name, module in linear_weights(rounded.model):  # 2 bits: the values -2, -1, 0, 1 times one scale
        assert len(torch.unique(module.weight)) <= 4, name


def test_eight_bits_keep_the_shared_models_answers_and_two_per_tensor_do_not(shared_model, shared_data):
    from helpers import fixed_subset, load_sst2

    fp32 = load_classifier(str(shared_model))
    examples = fixed_subset(load_sst2(str(shared_data), "validation"), 64, 0)
    reference = evaluate(fp32, examples, progress=False).predictions
    eight = evaluate(weights_fake_quantized(fp32, 8, "channel"), examples, progress=False).predictions
    two = evaluate(weights_fake_quantized(fp32, 2, "tensor"), examples, progress=False).predictions
    assert sum(a != b for a, b in zip(reference, eight)) <= 1
    assert sum(a != b for a, b in zip(reference, two)) >= 8


def test_layer_errors_rank_the_outlier_layers_of_the_shared_model(shared_model):
    model = load_classifier(str(shared_model)).model
    rows = layer_errors(model, 4)
    assert len(rows) == len(linear_weights(model)) and all(usable(model, g) for g in GRANULARITIES)
    for row in rows:  # a finer scale never loses SQNR on these weights
        assert row["per tensor"] <= row["per channel"] + 0.5 and row["groups of 128"] <= row["groups of 32"] + 0.5
    worst = max(rows, key=lambda r: r["outlier_ratio"])
    assert worst["outlier_ratio"] > 20 and worst["per tensor"] < min(r["per tensor"] for r in rows) + 1
