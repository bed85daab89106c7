"""The settings of each method, as data: one frozen, keyword-only object per kind of route, passed whole
to the method that uses it (as torchao's `quantize_(model, config)` takes its config), written beside
the saved model (`route.json`) and into the record. The registry (`routes.variants`) makes them from a
run's settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class RouteConfig:
    """The settings of one route's build (subclasses add theirs)."""

    def as_dict(self) -> dict:
        """The settings as JSON-ready data, with the kind of config first."""
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
        return {"kind": type(self).__name__, **values}


@dataclass(frozen=True, kw_only=True)
class AsLoaded(RouteConfig):
    """The FP32 model as loaded: nothing to set."""


@dataclass(frozen=True, kw_only=True)
class BFloat16(RouteConfig):
    """Every weight and every product in bfloat16: FP32's exponent, 8 bits of mantissa, half the bytes."""


@dataclass(frozen=True, kw_only=True)
class Compiled(RouteConfig):
    """`torch.compile` (inductor, freezing, dynamic shapes), compiled up front for `batch_sizes`."""

    batch_sizes: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class DynamicInt8(RouteConfig):
    """`quantize_dynamic` on every Linear; with `embeddings`, 8-bit embedding rows too."""

    embeddings: bool = False


@dataclass(frozen=True, kw_only=True)
class MixedInt8(RouteConfig):
    """`quantize_dynamic` except the k most sensitive Linears: the smallest k among `candidate_ks` whose
    flips on `dev_sentences` train sentences stay within `max_flip_rate`."""

    dev_sentences: int
    max_flip_rate: float = 0.005
    candidate_ks: tuple[int, ...] = (0, 1, 2, 4, 8, 16)


@dataclass(frozen=True, kw_only=True)
class StaticInt8(RouteConfig):
    """PT2E static INT8: activation ranges by `observer` over `calibration_sentences` train sentences,
    then compiled for `batch_sizes`."""

    observer: str = "histogram"
    calibration_sentences: int
    batch_sizes: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class TorchaoInt8(RouteConfig):
    """torchao `Int8DynamicActivationInt8WeightConfig`; compiled for `batch_sizes` if `compiled`."""

    compiled: bool = False
    batch_sizes: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Onnx(RouteConfig):
    """Exported to ONNX at `opset`; with `optimized`, through ONNX Runtime's transformer optimizer (attention
    exported eagerly so it can be fused); with `quantized`, ONNX Runtime's dynamic INT8 (`weight_type`,
    `per_channel`, `reduce_range`: the settings of `preset`, the instruction set they were chosen for)."""

    opset: int = 17
    optimized: bool = False
    quantized: bool = False
    weight_type: str = "QInt8"
    per_channel: bool = False
    reduce_range: bool = False
    preset: str = ""


@dataclass(frozen=True, kw_only=True)
class OnnxNBits(RouteConfig):
    """Exported to ONNX at `opset` (attention unfused, so Q, K and V stay MatMuls), then ONNX Runtime's
    block-wise weight-only quantization: every MatMul weight, and with `embeddings` every embedding table,
    in `bits` bits with one scale per `block_size` inputs (`symmetric`: no zero-points), run by its
    MatMulNBits and GatherBlockQuantized kernels; `accuracy_level` 4 lets MatMulNBits multiply in INT8
    where the CPU can. The defaults are ONNX Runtime's block size and the symmetric grid of the book's
    bit-width sweep: nothing here was tuned on validation."""

    opset: int = 17
    bits: int = 4
    block_size: int = 128
    symmetric: bool = True
    accuracy_level: int = 4
    embeddings: bool = True


@dataclass(frozen=True, kw_only=True)
class OpenVino(RouteConfig):
    """Exported to ONNX at `opset` and read by OpenVINO; with `quantized`, NNCF's post-training INT8 for a
    transformer, activation ranges from `calibration_sentences` train sentences."""

    opset: int = 17
    quantized: bool = False
    calibration_sentences: int = 0


@dataclass(frozen=True, kw_only=True)
class PrunedHeads(RouteConfig):
    """The `fraction` least important heads removed (ranked on `train_sentences`), then
    `recovery_steps` fine-tuning batches."""

    fraction: float = 0.5
    train_sentences: int
    recovery_steps: int
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class Distilled(RouteConfig):
    """A student of every other encoder layer (ending with the last), trained `steps` batches on
    `train_sentences` with alpha · T² · KL(teacher ‖ student at T) + (1 − alpha) · cross-entropy, the
    learning rate `lr` warmed up over the first `warmup` of the steps, then decayed linearly."""

    temperature: float = 2.0
    alpha: float = 0.5
    lr: float = 1e-4
    warmup: float = 0.06
    steps: int
    train_sentences: int | None  # None: the whole train split
    seed: int = 0
