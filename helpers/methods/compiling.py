"""`torch.compile` for the book's routes: inductor with freezing, dynamic shapes, compiled up front."""

from __future__ import annotations

import shutil
import warnings

import torch
import torch.fx.experimental._config  # noqa: F401  (backed_size_oblivious)
from torch import nn

from ..core.anatomy import model_inputs

# Warm-up sentences of different lengths; batch b takes the first b of them (padded to the longest).
WARMUP_SENTENCES = ("the plot is thin and the pacing drags , yet the performances are superb .",
                    "flat .", "a quiet , moving film")


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
    # Without this, dynamic shapes still specialise a dimension of size 1: a model compiled at batch 1
    # compiles again at batch 2 (a minute or more here). Size-oblivious, one graph serves every batch
    # size whose kernels do not themselves depend on it (FP32 and PT2E; torchao's per-token scales do).
    torch.fx.experimental._config.backed_size_oblivious = True
    # inductor's oneDNN lowering copies INT8 zero-points with torch.tensor(tensor) and says so each time it
    # compiles a shape, measurements included; the copy is correct, the advice is for inductor's authors.
    warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning,
                            module="torch._inductor")
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    torch._dynamo.config.accumulated_recompile_limit = max(torch._dynamo.config.accumulated_recompile_limit, 512)


def compile_and_warm(model: nn.Module, tokenizer, max_length: int, batch_sizes: tuple[int, ...] = (1, 2)) -> nn.Module:
    """`torch.compile(model, dynamic=True)`, run once at each of `batch_sizes` so compiling is done before timing."""
    configure_inductor()
    compiled = torch.compile(model, dynamic=True)
    for size in batch_sizes:
        sentences = [WARMUP_SENTENCES[i % len(WARMUP_SENTENCES)] for i in range(size)]
        # Ordinary tensors in, inference mode around the call: as everywhere in the book (see `predict`).
        batch = model_inputs(model, tokenizer, sentences, padding=True, truncation=True, max_length=max_length)
        with torch.inference_mode(), warnings.catch_warnings():
            # inductor's oneDNN lowering copies INT8 zero-points with torch.tensor(tensor) and says so.
            warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning)
            compiled(**batch)
    return compiled
