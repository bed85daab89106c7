"""ONNX export and ONNX Runtime: an FP32 graph, the transformer optimizer's fused graph, their dynamic INT8
versions (with the settings each instruction set suits), and a session as a model."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from ..core.anatomy import model_inputs
from ..core.errors import BookError
from .configs import Onnx, OnnxNBits

ONNX_SUBDIR = "onnx"  # the layout transformers.js reads: <dir>/onnx/model.onnx, model_quantized.onnx
MATMUL_OPS = {"MatMul", "Gemm", "MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul", "MatMulIntegerToFloat",
              "Attention", "QAttention", "MatMulNBits"}  # the fused attention reads the Q, K, V weights
FILES = {"fp32": "model.onnx", "int8_dynamic": "model_quantized.onnx",
         "fp32_optimized": "model_optimized.onnx", "int8_optimized": "model_optimized_quantized.onnx",
         "int4_weights": "model_q4.onnx"}

# ONNX Runtime's dynamic INT8 settings per instruction set, chosen as Hugging Face Optimum's
# `AutoQuantizationConfig` presets choose them: UINT8 activations always; INT8 weights where the CPU multiplies
# u8·s8 in one instruction (VNNI's vpdpbusd, ARM's dot products); on AVX-512 without VNNI, a 7-bit range so
# vpmaddubsw's 16-bit pair sums cannot saturate; on AVX2, UINT8 weights (U8U8, a path without that saturation).
# One scale per weight tensor (Optimum's `per_channel=False`): per-channel scales measured slower here, because
# ONNX Runtime then leaves the rescaling after each integer product unfused (chapter 12 measures both).
ORT_PRESETS: dict[str, dict] = {
    "avx512_vnni": {"weight_type": "QInt8", "per_channel": False, "reduce_range": False},
    "avx512": {"weight_type": "QInt8", "per_channel": False, "reduce_range": True},
    "avx2": {"weight_type": "QUInt8", "per_channel": False, "reduce_range": False},
    "arm64": {"weight_type": "QInt8", "per_channel": False, "reduce_range": False},
}


def onnxruntime_missing() -> str | None:
    """Why the ONNX routes cannot run here (a package is missing), or None."""
    for module, package in (("onnxruntime", "onnxruntime"), ("onnx", "onnx")):
        if importlib.util.find_spec(module) is None:
            return f"the Python package {package} is not installed"
    return None


class _LogitsOnly(nn.Module):
    """The classifier as a function of named token tensors returning logits (what ONNX exports)."""

    def __init__(self, model: nn.Module, input_names: list[str]):
        super().__init__()
        self.model, self.input_names = model, input_names

    def forward(self, *inputs):
        return self.model(**dict(zip(self.input_names, inputs))).logits


def ort_preset(flags: list[str], machine: str | None = None) -> str:
    """The `ORT_PRESETS` entry for a CPU with these ISA flags (`cpu_model_and_flags`) and architecture."""
    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if {"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags):
        return "avx512_vnni"
    return "avx512" if "avx512bw" in flags else "avx2"


@contextmanager
def _attention(model: nn.Module, implementation: str | None):
    """The model with another attention implementation for a while (None: as it is)."""
    before = model.config._attn_implementation
    if implementation and implementation != before:
        model.set_attn_implementation(implementation)
    try:
        yield model
    finally:
        if implementation and implementation != before:
            model.set_attn_implementation(before)


def export_onnx(model: nn.Module, tokenizer, path: str | Path, opset: int = 17, attention: str | None = None) -> Path:
    """Export an FP32 classifier to ONNX with dynamic batch and sequence axes (TorchScript exporter); with
    `attention="eager"`, the attention written as plain matmuls and softmax, the pattern ONNX Runtime's
    transformer optimizer recognises (it does not recognise the SDPA graph transformers uses by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = model_inputs(model, tokenizer, ["a short example", "and a second , longer example sentence"],
                           padding=True)
    names = list(example)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The tracer warns that two shape checks in transformers' masking code become constants; both
        # hold for every padded batch (tests compare ONNX and PyTorch logits at several shapes).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator", category=UserWarning)
        # The wrapper must be in eval mode too: the exporter restores the wrapper's mode afterwards, and a
        # wrapper left in training mode would switch the model's dropout on for everything that follows.
        with _attention(model, attention):
            torch.onnx.export(_LogitsOnly(model, names).eval(), tuple(example[n] for n in names), str(path),
                              input_names=names, output_names=["logits"], dynamic_axes=axes,
                              opset_version=opset, dynamo=False)
    return path


def optimize_onnx(source: str | Path, target: str | Path, config) -> tuple[Path, dict[str, int]]:
    """ONNX Runtime's transformer optimizer on an exported BERT or DistilBERT graph (fused Attention,
    SkipLayerNormalization, BiasGelu), with `config` the model's transformers config; the embeddings' own
    fusion stays off, as Optimum keeps it, so quantization still finds their Gather. Returns the file and
    how many of each fused operator it holds."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    if config.model_type not in ("bert", "distilbert"):
        raise BookError(f"ONNX Runtime's transformer optimizer is set up here for BERT and DistilBERT; "
                        f"this model is a {config.model_type}.")
    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False
    optimized = optimize_model(str(source), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, optimization_options=options)
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    if not fused.get("Attention"):
        raise BookError(f"ONNX Runtime's optimizer fused no Attention in {Path(source).name}: export it with "
                        f"attention='eager' (the SDPA graph is not recognised).")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    optimized.save_model_to_file(str(target))
    return Path(target), fused


def quantize_onnx_dynamic(source: str | Path, target: str | Path, config: Onnx = Onnx(quantized=True)) -> Path:
    """ONNX Runtime's dynamic quantization with the settings of `config`: 8-bit weights
    (`QuantType[config.weight_type]`, per output channel or per tensor, on a 7-bit range with
    `reduce_range`) for MatMul and Gather (the embeddings too)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" hint concerns shape inference, not accuracy
    try:
        # shape inference cannot type the optimizer's fused operators: tensors it cannot type are FLOAT
        quantize_dynamic(str(source), str(target), weight_type=QuantType[config.weight_type],
                         per_channel=config.per_channel, reduce_range=config.reduce_range, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    return Path(target)


def quantize_onnx_nbits(source: str | Path, target: str | Path, config: OnnxNBits = OnnxNBits()) -> Path:
    """ONNX Runtime's block-wise weight-only quantization with the settings of `config`: MatMul weights
    become MatMulNBits (`config.bits` bits, one scale per `config.block_size` inputs), and with
    `config.embeddings` the embedding tables become GatherBlockQuantized (blocks along the hidden axis)."""
    import logging

    import numpy as np
    import onnx

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    root.handlers[:], root.level = handlers, level  # its import sets the root logger to INFO (basicConfig)
    ops = ("MatMul", "Gather") if config.embeddings else ("MatMul",)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=config.bits, block_size=config.block_size,
                                     is_symmetric=config.symmetric, accuracy_level=config.accuracy_level,
                                     op_types_to_quantize=ops, quant_axes=(("MatMul", 0), ("Gather", 1)))
    with np.errstate(invalid="ignore"):  # an all-zero row (a padding embedding) has scale 0: it stores zeros
        quantizer.process()
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)
    return Path(target)


class OrtModel:
    """An ONNX Runtime session that answers like a transformers model: `model(**batch).logits`."""

    def __init__(self, path: str | Path, config, threads: int):
        import onnxruntime as ort

        self.path, self.config, self.threads = Path(path), config, threads
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads keep a core busy after each call and slow whatever runs next on 2 cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, **batch):
        missing = [n for n in self.input_names if n not in batch]
        if missing:
            raise BookError(f"{self.path.name} needs inputs {missing}; got {sorted(batch)}.")
        feed = {n: batch[n].numpy() for n in self.input_names}
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(["logits"], feed)[0]))

    def eval(self):
        return self

    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def parameter_groups(self) -> dict[str, dict[str, int]]:
        return onnx_breakdown(self.path)


def save_onnx(path: str | Path, directory: str | Path, kind: str) -> Path:
    """Copy an ONNX file into `directory/onnx/` under the name transformers.js reads for `kind`."""
    target = Path(directory) / ONNX_SUBDIR / FILES[kind]
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(path).resolve() != target.resolve():
        shutil.copy2(path, target)
    return target


def onnx_breakdown(path: str | Path) -> dict[str, dict[str, int]]:
    """Parameters and bytes per group, from the graph's initializers and the operators that read them."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    readers: dict[str, set[str]] = {}
    per_byte: dict[str, int] = {}  # MatMulNBits packs 8 // bits weights into each byte of its weight input
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
        if node.op_type == "MatMulNBits":
            bits = next(a.i for a in node.attribute if a.name == "bits")
            per_byte[node.input[1]] = 8 // bits
    groups = {g: {"params": 0, "bytes": 0} for g in ("embeddings", "linear", "other")}
    for init in graph.initializer:
        ops = readers.get(init.name, set())
        array = numpy_helper.to_array(init)  # 4-bit types come back one value per byte
        stored = len(init.raw_data) or array.nbytes
        if "_embeddings" in init.name:  # word_, position_, token_type_embeddings (quantized ones too)
            group = "embeddings"
        elif ops & MATMUL_OPS or (init.name.endswith(".bias") and "LayerNorm" not in init.name):
            group = "linear"
        else:
            group = "other"
        groups[group]["params"] += int(array.size) * per_byte.get(init.name, 1)
        groups[group]["bytes"] += int(stored)
    return groups


def onnx_operator_counts(path: str | Path) -> dict[str, int]:
    """How many nodes of each operator type an ONNX graph holds (most frequent first)."""
    import collections

    import onnx

    counts = collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    return dict(counts.most_common())
