"""Weights below 8 bits, simulated: every Linear weight rounded to a b-bit grid (one scale per tensor,
per output channel or per group of inputs) while everything else stays FP32, to see where accuracy
breaks and which layers the error comes from."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..core.models import Classifier
from ..core.numerics import fake_quantize_weight, quantization_error

GRANULARITIES: tuple[str | int, ...] = ("tensor", "channel", 128, 32)  # coarsest first


def granularity_label(granularity: str | int) -> str:
    """How a table or figure names a granularity: "per tensor", "per channel", "groups of 32"."""
    return f"groups of {granularity}" if isinstance(granularity, int) else f"per {granularity}"


def linear_weights(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """Every nn.Linear of the model (the encoder's, the pooler's and the classifier's), by name."""
    return [(name, m) for name, m in model.named_modules() if type(m) is nn.Linear]


def usable(model: nn.Module, granularity: str | int) -> bool:
    """Whether every Linear's input width divides into groups of `granularity` (always, per tensor or
    channel)."""
    return not isinstance(granularity, int) or all(
        m.in_features % granularity == 0 for _, m in linear_weights(model))


def weights_fake_quantized(clf: Classifier, bits: int, granularity: str | int = "channel") -> Classifier:
    """A copy whose every Linear weight went through a symmetric `bits`-bit grid and back (FP32 again, so
    the activations and the arithmetic stay FP32: only the weights' rounding is measured)."""
    model = copy.deepcopy(clf.model).eval()
    with torch.no_grad():
        for _, module in linear_weights(model):
            module.weight.copy_(fake_quantize_weight(module.weight, bits, granularity))
    return clf.with_model(model)


def layer_errors(model: nn.Module, bits: int, granularities=GRANULARITIES) -> list[dict]:
    """For every Linear: its weights' SQNR (dB) at `bits` for each granularity, and how far its largest
    weight stands out (max |w| over the root mean square): a large ratio stretches a shared scale."""
    rows = []
    for name, module in linear_weights(model):
        w = module.weight.detach().float()
        row = {"layer": name, "params": w.numel(), "outlier_ratio": float(w.abs().max() / w.pow(2).mean().sqrt())}
        for g in granularities:
            if not isinstance(g, int) or w.shape[1] % g == 0:
                row[granularity_label(g)] = quantization_error(w, fake_quantize_weight(w, bits, g))["sqnr_db"]
        rows.append(row)
    return rows
