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
    """`quantize_dynamic` except the k most sensitive Linears. Layers are ranked by how far quantizing each
    alone moves P(positive), and k is the smallest among `candidate_ks` with the best accuracy, both on
    `held_out_sentences` labelled train sentences that nothing trained on (`data.sst2.held_out_examples`:
    validation-like length). k = 0 is `int8_dynamic` itself, so the route never chooses to be worse there."""

    held_out_sentences: int
    selected_on: str = "held-out train sentences (data.sst2.held_out_examples)"
    candidate_ks: tuple[int, ...] = (0, 1, 2, 4, 8, 16)


@dataclass(frozen=True, kw_only=True)
class IntxWeights(RouteConfig):
    """torchao `Int8DynamicActivationIntxWeightConfig`: activations in INT8, quantized per token at run
    time; every Linear weight in `bits` bits, symmetric, one scale per output channel (`group_size`
    None) or per group of inputs. The values are stored one per byte (torchao's unpacked format): a
    lesson in accuracy, not in size. 3 bits per channel is the widest grid that post-training
    quantization breaks on held-out train sentences (`selected_on`; chapter 13 shows the scan)."""

    bits: int = 3
    group_size: int | None = None
    selected_on: str = ("held-out train sentences: the widest per-channel grid at which post-training "
                        "quantization lost more than a point there")


@dataclass(frozen=True, kw_only=True)
class QatIntx(IntxWeights):
    """The same grid learnt by quantization-aware training: `steps` batches of `train_sentences` train
    sentences through torchao's fake quantization (AdamW at `lr`, warmed up over `warmup` of the steps,
    then decayed linearly), on the FP32 model's soft targets (`alpha` 1: distillation alone, at
    `temperature`), the weights of `points` evenly spaced steps (step 0 included) whose answers on
    `held_out_sentences` held-out train sentences lie closest to FP32's (least mean KL) kept, then converted. `ptq_twin` names the route of the
    same grid without training. `alpha` and `lr` were chosen on held-out train sentences
    (`settings_selected_on`), never on validation."""

    steps: int
    train_sentences: int | None  # None: the whole train split but its held-out slice
    held_out_sentences: int
    lr: float = 5e-5
    alpha: float = 1.0  # the FP32 model's soft targets at `temperature`; 0: the labels alone
    temperature: float = 2.0
    settings_selected_on: str = (
        "held-out train sentences (256 of data.sst2.held_out_examples), 400 steps of 32 on 12,800 train "
        "sentences, the best held-out accuracy along the way: soft targets (alpha 1) at lr 5e-5 98.44%, at "
        "2e-5 97.27%; the labels (alpha 0) at lr 5e-5 97.66%, at 2e-5 98.05%; post-training 95.70%. Then, "
        "as accuracy there saturates (FP32 was fine-tuned on those sentences too), the least mean KL from "
        "FP32's answers on 1,024 held-out train sentences, soft targets: lr 5e-5, 400 steps 0.0153; lr 2e-4, "
        "400 steps 0.0289; lr 1e-4, 800 steps 0.0195; post-training 0.0596")
    warmup: float = 0.06
    points: int = 8
    seed: int = 0
    ptq_twin: str = "ptq_int3_weights"


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
    transformer, activation ranges from `calibration_sentences` train sentences. `inference_precision`
    "bf16" has the CPU plugin compute in bfloat16 (weights converted when compiled)."""

    opset: int = 17
    quantized: bool = False
    calibration_sentences: int = 0
    inference_precision: str = "f32"


@dataclass(frozen=True, kw_only=True)
class OpenVinoWeights(RouteConfig):
    """Exported to ONNX at `opset`, read by OpenVINO, then NNCF's data-free weight compression
    (`compress_weights`): a `ratio` of the MatMul weights in `mode` (4-bit, symmetric: one scale per
    `group_size` inputs), with `all_layers` the embedding tables and the last layer too (else NNCF keeps
    those in 8 bits). A row too short for a group gets the largest power-of-two group that divides it
    (`group_size_fallback`, NNCF's "adjust"; none of the book's models needs it, its tiny test models do).
    Activations stay FP32. NNCF's own defaults for a 4-bit mode, `all_layers` aside: nothing here was
    tuned on validation."""

    opset: int = 17
    mode: str = "int4_sym"
    group_size: int = 128
    ratio: float = 1.0
    all_layers: bool = True
    group_size_fallback: str = "adjust"


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
