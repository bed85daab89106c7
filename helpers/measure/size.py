"""Model size: bytes of the saved weights, and where the bytes live (embeddings, Linear, other)."""

from __future__ import annotations

import io

import torch
from torch import nn

MIB = 2**20
GROUPS = ("embeddings", "linear", "other")


def state_dict_bytes(model: nn.Module) -> int:
    """Size in bytes of `torch.save(model.state_dict())`: what a checkpoint of the model weighs."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def model_bytes(model) -> int:
    """What a model weighs: its state_dict, or the bytes an ONNX file or exported graph really holds."""
    from ..core.models import uncompiled

    model = uncompiled(model)
    return model.size_bytes() if hasattr(model, "size_bytes") else state_dict_bytes(model)


def tensor_bytes(t: torch.Tensor | None) -> tuple[int, int]:
    """(elements, bytes) of a tensor, counting what quantized tensors and tensor subclasses store."""
    if t is None:
        return 0, 0
    if hasattr(t, "__tensor_flatten__"):  # torchao: INT8 data plus scales inside a float-looking tensor
        inner = [tensor_bytes(getattr(t, name))[1] for name in t.__tensor_flatten__()[0]]
        return t.numel(), sum(inner)
    if t.is_quantized:
        extra = 0
        if t.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric,
                           torch.per_channel_affine_float_qparams):
            extra = sum(x.numel() * x.element_size() for x in (t.q_per_channel_scales(), t.q_per_channel_zero_points()))
        return t.numel(), t.numel() * t.element_size() + extra
    return t.numel(), t.numel() * t.element_size()


def parameter_breakdown(model) -> dict[str, dict[str, int]]:
    """Parameters and bytes per group: `embeddings`, `linear` (FP32 or INT8) and `other` (norms…)."""
    from ..core.models import uncompiled

    model = uncompiled(model)
    if hasattr(model, "parameter_groups"):  # an ONNX Runtime session or an exported graph
        return model.parameter_groups()
    groups = {g: {"params": 0, "bytes": 0} for g in GROUPS}

    def add(group: str, tensor) -> None:
        n, b = tensor_bytes(tensor)
        groups[group]["params"] += n
        groups[group]["bytes"] += b

    seen: set[int] = set()
    for module in model.modules():
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            weight, bias = module._packed_params._weight_bias()
            add("linear", weight)
            add("linear", bias)
            continue
        if isinstance(module, torch.ao.nn.quantized.Embedding):
            add("embeddings", module.weight())
            continue
        group = "embeddings" if isinstance(module, nn.Embedding) else "linear" if isinstance(module, nn.Linear) else "other"
        for param in module.parameters(recurse=False):
            if id(param) not in seen:  # tied weights count once
                seen.add(id(param))
                add(group, param)
    return groups
