"""The arithmetic of affine (scale, zero-point) quantization, small enough to read and plot."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import BookError


@dataclass(frozen=True)
class QuantParams:
    """Scale and zero-point (per tensor, or per row when `axis` is 0) of a b-bit integer grid."""

    scale: torch.Tensor
    zero_point: torch.Tensor
    qmin: int
    qmax: int
    axis: int | None

    @property
    def bits(self) -> int:
        return (self.qmax - self.qmin + 1).bit_length() - 1


def choose_qparams(x: torch.Tensor, bits: int = 8, symmetric: bool = True, per_channel: bool = False) -> QuantParams:
    """Min/max calibration: map [min, max] (or [-max|x|, max|x|] if symmetric) onto the signed b-bit grid."""
    if not 2 <= bits <= 16:
        raise BookError(f"bits must be between 2 and 16, got {bits}.")
    if per_channel and x.dim() < 2:
        raise BookError("per-channel quantization needs a tensor with at least 2 dimensions.")
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    x = x.detach().float()
    flat = x.reshape(x.shape[0], -1) if per_channel else x.reshape(1, -1)
    lo = torch.clamp(flat.min(dim=1).values, max=0.0)  # the grid must hold 0 exactly
    hi = torch.clamp(flat.max(dim=1).values, min=0.0)
    if symmetric:
        bound = torch.maximum(-lo, hi)
        scale = bound / ((qmax - qmin) / 2)
        zero_point = torch.zeros_like(scale, dtype=torch.int64)
    else:
        scale = (hi - lo) / (qmax - qmin)
        zero_point = (qmin - torch.round(lo / torch.where(scale > 0, scale, 1.0))).to(torch.int64)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row: any scale works
    if not per_channel:
        scale, zero_point = scale[0], zero_point[0]
    return QuantParams(scale, zero_point.clamp(qmin, qmax), qmin, qmax, 0 if per_channel else None)


def _broadcast(t: torch.Tensor, qp: QuantParams, like: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, *([1] * (like.dim() - 1))) if qp.axis == 0 else t


def quantize(x: torch.Tensor, qp: QuantParams) -> torch.Tensor:
    """q = clamp(round(x / scale) + zero_point, qmin, qmax), as int64."""
    scale, zp = _broadcast(qp.scale, qp, x), _broadcast(qp.zero_point, qp, x)
    return torch.clamp(torch.round(x.float() / scale) + zp, qp.qmin, qp.qmax).to(torch.int64)


def dequantize(q: torch.Tensor, qp: QuantParams) -> torch.Tensor:
    """x̂ = scale · (q − zero_point)."""
    scale, zp = _broadcast(qp.scale, qp, q), _broadcast(qp.zero_point, qp, q)
    return (q - zp).float() * scale


def fake_quantize(x: torch.Tensor, bits: int = 8, symmetric: bool = True, per_channel: bool = False):
    """Round-trip `x` through the integer grid; returns (x̂, QuantParams)."""
    qp = choose_qparams(x, bits, symmetric, per_channel)
    return dequantize(quantize(x, qp), qp), qp


def quantization_error(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, float]:
    """Max absolute error, RMSE and signal-to-quantization-noise ratio (dB)."""
    err = (x.float() - x_hat.float()).flatten()
    signal = x.float().pow(2).mean()
    noise = err.pow(2).mean()
    sqnr = float("inf") if noise == 0 else float(10 * torch.log10(signal / noise))
    return {"max_abs": float(err.abs().max()), "rmse": float(noise.sqrt()), "sqnr_db": sqnr}


def fake_quantize_weight(w: torch.Tensor, bits: int, granularity: str | int = "channel") -> torch.Tensor:
    """Round-trip a Linear weight `[out, in]` through a symmetric b-bit grid with one scale per tensor
    (`"tensor"`), per output row (`"channel"`) or per group of `granularity` consecutive inputs of a row
    (an int: the block-wise scales of 4-bit formats such as ONNX Runtime's MatMulNBits)."""
    if w.dim() != 2:
        raise BookError(f"a Linear weight has 2 dimensions; this one has {w.dim()}.")
    if granularity in ("tensor", "channel"):
        return fake_quantize(w, bits, per_channel=granularity == "channel")[0]
    if not isinstance(granularity, int) or granularity < 1 or w.shape[1] % granularity:
        raise BookError(f"granularity must be 'tensor', 'channel' or a group size dividing the {w.shape[1]} "
                        f"inputs of each row; got {granularity!r}.")
    groups = w.reshape(-1, granularity)  # each row of `groups` is one group of one output row
    return fake_quantize(groups, bits, per_channel=True)[0].reshape(w.shape)
