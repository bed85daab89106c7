"""ONNX export and ONNX Runtime: an FP32 graph, its dynamic INT8 version, and a session as a model."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from ..core.anatomy import model_inputs
from ..core.errors import BookError

ONNX_SUBDIR = "onnx"  # the layout transformers.js reads: <dir>/onnx/model.onnx, model_quantized.onnx
MATMUL_OPS = {"MatMul", "Gemm", "MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul"}
FILES = {"fp32": "model.onnx", "int8_dynamic": "model_quantized.onnx"}


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


def export_onnx(model: nn.Module, tokenizer, path: str | Path, opset: int = 17) -> Path:
    """Export an FP32 classifier to ONNX with dynamic batch and sequence axes (TorchScript exporter)."""
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
        torch.onnx.export(_LogitsOnly(model, names).eval(), tuple(example[n] for n in names), str(path),
                          input_names=names, output_names=["logits"], dynamic_axes=axes,
                          opset_version=opset, dynamo=False)
    return path


def quantize_onnx_dynamic(source: str | Path, target: str | Path, weight_type: str = "QInt8") -> Path:
    """ONNX Runtime's dynamic quantization: 8-bit weights (`QuantType[weight_type]`) for MatMul and Gather
    (the embeddings too)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" hint concerns shape inference, not accuracy
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType[weight_type])
    finally:
        root.setLevel(level)
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


def save_onnx(path: str | Path, config, tokenizer, directory: str | Path, kind: str, meta: dict) -> Path:
    """Copy an ONNX file into `directory/onnx/`, with the config and tokenizer beside it."""
    directory = Path(directory)
    target = directory / ONNX_SUBDIR / FILES[kind]
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(path).resolve() != target.resolve():
        shutil.copy2(path, target)
    config.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / f"{Path(FILES[kind]).stem}.json").write_text(json.dumps(meta, indent=2))
    return target


def onnx_breakdown(path: str | Path) -> dict[str, dict[str, int]]:
    """Parameters and bytes per group, from the graph's initializers and the operators that read them."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    readers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    groups = {g: {"params": 0, "bytes": 0} for g in ("embeddings", "linear", "other")}
    for init in graph.initializer:
        ops = readers.get(init.name, set())
        array = numpy_helper.to_array(init)
        if "_embeddings" in init.name:  # word_, position_, token_type_embeddings (quantized ones too)
            group = "embeddings"
        elif ops & MATMUL_OPS or (init.name.endswith(".bias") and "LayerNorm" not in init.name):
            group = "linear"
        else:
            group = "other"
        groups[group]["params"] += int(array.size)
        groups[group]["bytes"] += int(array.nbytes)
    return groups


def onnx_operator_counts(path: str | Path) -> dict[str, int]:
    """How many nodes of each operator type an ONNX graph holds (most frequent first)."""
    import collections

    import onnx

    counts = collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    return dict(counts.most_common())
