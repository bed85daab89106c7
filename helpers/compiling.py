"""`torch.compile` for the book's routes: inductor with freezing, dynamic shapes, compiled up front."""

from __future__ import annotations

import shutil
import warnings

import torch
from torch import nn

# Short and long, batch 1 and batch 2: after these, dynamic shapes cover every input the book times.
WARMUP_SENTENCES = (
    ["a quiet , moving film"],
    ["the plot is thin and the pacing drags , yet the performances are superb .", "flat ."],
)


def compiler_missing() -> str | None:
    """Why inductor cannot compile on this machine (it needs a C++ compiler), or None."""
    if shutil.which("g++") or shutil.which("c++") or shutil.which("clang++"):
        return None
    return "torch.compile's inductor backend needs a C++ compiler (g++ or clang++), and none is installed"


def configure_inductor() -> None:
    """Freezing on (weights become constants that inductor can pre-pack and fold) and room to recompile.

    Freezing is set in inductor's global config rather than per call, because the per-call option
    fails on PT2E's quantized weights (`onednn.qlinear_prepack`). Past the recompile limit dynamo
    silently falls back to eager, which would make a "compiled" timing an eager one.
    """
    torch._inductor.config.freezing = True
    # inductor's oneDNN lowering copies INT8 zero-points with torch.tensor(tensor) and says so each time it
    # compiles a shape, measurements included; the copy is correct, the advice is for inductor's authors.
    warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning,
                            module="torch._inductor")
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    torch._dynamo.config.accumulated_recompile_limit = max(torch._dynamo.config.accumulated_recompile_limit, 512)


def compile_and_warm(model: nn.Module, tokenizer, max_length: int) -> nn.Module:
    """`torch.compile(model, dynamic=True)` and run it on a few shapes, so compiling is done before timing."""
    configure_inductor()
    compiled = torch.compile(model, dynamic=True)
    with torch.inference_mode(), warnings.catch_warnings():
        # inductor's oneDNN lowering copies INT8 zero-points with torch.tensor(tensor) and says so.
        warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning)
        for sentences in WARMUP_SENTENCES:
            batch = tokenizer(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            compiled(**batch)
    return compiled


def uncompiled(model):
    """The model without its `torch.compile` wrapper (the model itself if it is not compiled)."""
    if hasattr(model, "_orig_mod"):
        return model._orig_mod
    return model.without_compile() if hasattr(model, "without_compile") else model
