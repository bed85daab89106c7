"""Quantizing a model's Linear layers to INT8: PyTorch's dynamic quantization and torchao's."""

from __future__ import annotations

import copy as _copy
import warnings
from collections import Counter
from contextlib import contextmanager

import torch
from torch import nn


def quantize_dynamic_int8(model: nn.Module, engine: str | None = None, copy: bool = True,
                          embeddings: bool = False, layers: set[str] | None = None) -> nn.Module:
    """Dynamic INT8 post-training quantization of every nn.Linear (weights now, activations per batch).

    Calls the seed's method, `torch.ao.quantization.quantize_dynamic`, which this torch version
    marks deprecated (it still works); `engine` picks the kernel library (x86, fbgemm, qnnpack).
    With `embeddings=True` every nn.Embedding is also stored in 8 bits, weight-only, with a float
    scale and zero-point per row (`float_qparams_weight_only_qconfig`): lookups return FP32 rows.
    With `layers`, only the Linear layers of those names are quantized (the rest stay FP32).
    The two deprecation notices chapter 3 explains (KNOWN_WARNINGS) are silenced here, nothing else.
    """
    from torch.ao.quantization import default_dynamic_qconfig, float_qparams_weight_only_qconfig

    if engine is not None:
        torch.backends.quantized.engine = engine
    source = _copy.deepcopy(model) if copy else model
    if layers is not None:
        linear = {name for name, m in source.named_modules() if type(m) is nn.Linear}
        if not set(layers) <= linear:
            raise ValueError(f"Not Linear layers of this model: {sorted(set(layers) - linear)[:3]}")
        spec = {name: default_dynamic_qconfig for name in layers}
    else:
        spec = {nn.Linear: default_dynamic_qconfig}
    if embeddings:
        spec[nn.Embedding] = float_qparams_weight_only_qconfig
    with known_quantization_warnings_silenced():
        return torch.ao.quantization.quantize_dynamic(source.eval(), spec, dtype=torch.qint8)


def quantize_torchao_int8(model: nn.Module, copy: bool = True) -> nn.Module:
    """The modern path: torchao's `quantize_` with dynamic INT8 activations and INT8 weights."""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    target = _copy.deepcopy(model) if copy else model
    quantize_(target.eval(), Int8DynamicActivationInt8WeightConfig())
    return target


def weight_sqnr_by_layer(model: nn.Module, bits: int = 8) -> list[dict]:
    """Per-tensor and per-channel weight SQNR (dB) of every nn.Linear: where quantization hurts most."""
    from .numerics import fake_quantize, quantization_error

    rows = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not _is_dynamic_quantized_linear(module):
            weight = module.weight.detach()
            rows.append({
                "layer": name,
                "params": weight.numel(),
                "per_tensor_db": quantization_error(weight, fake_quantize(weight, bits)[0])["sqnr_db"],
                "per_channel_db": quantization_error(weight, fake_quantize(weight, bits, per_channel=True)[0])["sqnr_db"],
            })
    return rows


def _is_dynamic_quantized_linear(module: nn.Module) -> bool:
    return isinstance(module, torch.ao.nn.quantized.dynamic.Linear)


def quantized_embedding_names(model: nn.Module) -> list[str]:
    """Names of the embeddings stored as 8-bit rows (quantize_dynamic_int8 with embeddings=True)."""
    return [name for name, m in model.named_modules() if isinstance(m, torch.ao.nn.quantized.Embedding)]


def torchao_int8_names(model: nn.Module) -> list[str]:
    """Names of the Linear layers whose weight torchao replaced by an INT8 tensor subclass."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and hasattr(m.weight, "__tensor_flatten__")]


def quantized_linear_names(model: nn.Module) -> list[str]:
    """Names of the modules that dynamic quantization replaced by INT8 Linear layers."""
    return [name for name, m in model.named_modules() if _is_dynamic_quantized_linear(m)]


def module_type_counts(model: nn.Module) -> dict[str, int]:
    """How many modules of each type do the work (leaves; a quantized Linear counts as one): what was swapped."""

    def public_name(cls: type) -> str:  # torch.nn.modules.linear.Linear → torch.nn.Linear
        return f"{cls.__module__.split('.modules')[0]}.{cls.__name__}"

    packed = (torch.ao.nn.quantized.modules.linear.LinearPackedParams,
              torch.ao.nn.quantized.modules.embedding_ops.EmbeddingPackedParams)
    whole = (torch.ao.nn.quantized.dynamic.Linear, torch.ao.nn.quantized.Embedding)
    counts = Counter(
        public_name(type(m))
        for m in model.modules()
        if isinstance(m, whole) or (not list(m.children()) and not isinstance(m, packed))
    )
    return dict(sorted(counts.items()))


# What this torch version says when torch.ao.quantization is used (chapter 3 shows and explains it).
KNOWN_WARNINGS = (
    (r".*torch\.ao\.quantization is deprecated", DeprecationWarning),
    (r".*quantized tensor creation functions", UserWarning),
    (r"TypedStorage is deprecated", UserWarning),
)


@contextmanager
def known_quantization_warnings_silenced():
    """Hide the deprecation notices of torch.ao.quantization (and only those) inside the block."""
    with warnings.catch_warnings():
        for message, category in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield
