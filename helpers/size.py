"""Model size: bytes of the saved state_dict, and where the bytes live (embeddings, Linear, other)."""

from __future__ import annotations

import io

import torch
from torch import nn

MIB = 2**20


def state_dict_bytes(model: nn.Module) -> int:
    """Size in bytes of `torch.save(model.state_dict())`: what a checkpoint of the model weighs."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def _tensor_bytes(t: torch.Tensor | None) -> tuple[int, int]:
    return (0, 0) if t is None else (t.numel(), t.numel() * t.element_size())


def parameter_breakdown(model: nn.Module) -> dict[str, dict[str, int]]:
    """Parameters and bytes per group: `embeddings`, `linear` (FP32 or INT8) and `other` (norms…)."""
    groups = {g: {"params": 0, "bytes": 0} for g in ("embeddings", "linear", "other")}

    def add(group: str, tensor) -> None:
        n, b = _tensor_bytes(tensor)
        groups[group]["params"] += n
        groups[group]["bytes"] += b

    seen: set[int] = set()
    for module in model.modules():
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            weight, bias = module._packed_params._weight_bias()
            add("linear", weight)
            add("linear", bias)
            continue
        group = "embeddings" if isinstance(module, nn.Embedding) else "linear" if isinstance(module, nn.Linear) else "other"
        for param in module.parameters(recurse=False):
            if id(param) not in seen:  # tied weights count once
                seen.add(id(param))
                add(group, param)
    return groups
