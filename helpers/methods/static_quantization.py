"""Static INT8 post-training quantization with PyTorch 2 export (PT2E) and the x86 inductor quantizer.

Export the FP32 classifier to a graph, insert observers (`prepare_pt2e`), run calibration sentences
through it so each observer records the range of the activation it watches, then replace the
observers by fixed quantize/dequantize steps (`convert_pt2e`). `torch.compile` turns each
dequantize → linear → quantize pattern into one INT8 oneDNN kernel.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.anatomy import model_input_names, model_inputs
from ..core.errors import BookError
from ..core.models import Classifier, classifier_from_folder, read_manifest, save_method

OBSERVERS = ("histogram", "minmax")  # how calibration turns observed activations into a range
STATIC_FILE = "model.pt2"


def quantizer_for(observer: str = "histogram"):
    """The x86 inductor quantizer: INT8 per-channel weights, UINT8 per-tensor activations.

    `histogram` (the default) chooses each activation range to minimise the rounding error over the
    observed histogram; `minmax` takes the smallest and largest value seen, outliers included.
    """
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e import MinMaxObserver

    if observer not in OBSERVERS:
        raise BookError(f"observer must be one of {OBSERVERS}, got {observer!r}.")
    config = xiq.get_default_x86_inductor_quantization_config()
    if observer == "minmax":
        act = dataclasses.replace(config.input_activation,
                                  observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
        config = dataclasses.replace(config, input_activation=act, output_activation=act)
    return xiq.X86InductorQuantizer().set_global(config)


def _example_and_shapes(model, tokenizer, max_length: int):
    example = model_inputs(model, tokenizer, ["a short example", "and a second , longer example sentence"],
                           padding=True)
    batch = torch.export.Dim("batch", min=1, max=4096)
    seq = torch.export.Dim("sequence", min=2, max=max_length)
    return example, {n: {0: batch, 1: seq} for n in example}


def export_graph(model: nn.Module, tokenizer, max_length: int) -> torch.fx.GraphModule:
    """The classifier as an exported graph with dynamic batch and sequence dimensions; its inputs are
    the tokenizer's outputs that the model takes (`anatomy.model_input_names`)."""
    kwargs, shapes = _example_and_shapes(model, tokenizer, max_length)
    with torch.inference_mode(False), torch.no_grad():
        return torch.export.export(model.eval(), (), kwargs, dynamic_shapes=shapes, strict=False).module()


def prepare_static(model: nn.Module, tokenizer, max_length: int, observer: str = "histogram"):
    """Export the model and insert an observer on every activation the quantizer will quantize."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    return prepare_pt2e(export_graph(model, tokenizer, max_length), quantizer_for(observer))


def calibrate(prepared, tokenizer, sentences: list[str], max_length: int, batch_size: int = 32,
              progress: bool = False) -> None:
    """Run calibration sentences through the observed graph (the observers record activation ranges)."""
    if not sentences:
        raise BookError("Static quantization needs calibration sentences (from the train split).")
    with torch.no_grad():
        for start in tqdm(range(0, len(sentences), batch_size), desc="calibration", disable=not progress):
            prepared(**model_inputs(prepared, tokenizer, sentences[start:start + batch_size], padding=True,
                                    truncation=True, max_length=max_length))


def activation_ranges(prepared) -> list[dict]:
    """The range each observer recorded during calibration: where static INT8 puts its grid."""
    rows = []
    for name, module in prepared.named_modules():
        if hasattr(module, "min_val") and hasattr(module, "calculate_qparams") and module.min_val.numel() == 1:
            scale, zero_point = module.calculate_qparams()
            rows.append({"observer": name, "min": float(module.min_val), "max": float(module.max_val),
                         "scale": float(scale.flatten()[0]), "zero_point": int(zero_point.flatten()[0])})
    return rows


class ExportedClassifier(nn.Module):
    """A quantized exported graph that answers like a transformers model: `model(**batch).logits`."""

    def __init__(self, graph: nn.Module, config, input_names: list[str]):
        super().__init__()
        self.graph, self.config, self.input_names = graph, config, list(input_names)

    def forward(self, **batch):
        out = self.graph(**{n: batch[n] for n in self.input_names})
        return SimpleNamespace(logits=out.logits if hasattr(out, "logits") else out[0])

    def without_compile(self) -> "ExportedClassifier":
        """The same classifier around the uncompiled graph (the one that is saved)."""
        graph = getattr(self.graph, "_orig_mod", self.graph)
        return self if graph is self.graph else ExportedClassifier(graph, self.config, self.input_names)

    def size_bytes(self) -> int:
        """Bytes of the tensors the graph reads."""
        return sum(t.numel() * t.element_size() for t in graph_tensors(self.without_compile().graph).values())

    def parameter_groups(self) -> dict[str, dict[str, int]]:
        """Parameters and bytes per group, by the operator that reads each tensor."""
        groups = {g: {"params": 0, "bytes": 0} for g in ("embeddings", "linear", "other")}
        kinds = {node.target: _reader_kind(node) for node in self.without_compile().graph.graph.nodes if node.op == "get_attr"}
        for name, tensor in graph_tensors(self.without_compile().graph).items():
            groups[kinds[name]]["params"] += tensor.numel()
            groups[kinds[name]]["bytes"] += tensor.numel() * tensor.element_size()
        return groups


_PASS_THROUGH = ("quantize", "permute", "transpose", "t.default", "_to_copy", "view", "reshape")


def _reader_kind(node, depth: int = 0) -> str:
    """`embeddings` or `linear` if an embedding lookup or a matrix product reads the tensor, else `other`."""
    for user in node.users:
        target = str(user.target)
        if "embedding" in target:
            return "embeddings"
        if any(k in target for k in ("linear", "addmm", "mm.default", "matmul")):
            return "linear"
        if depth < 4 and any(k in target for k in _PASS_THROUGH):
            kind = _reader_kind(user, depth + 1)
            if kind != "other":
                return kind
    return "other"


def graph_tensors(graph: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters, buffers and constants an FX graph module actually reads, by attribute name."""
    found = {}
    for node in graph.graph.nodes:
        if node.op == "get_attr" and node.target not in found:
            value = graph
            for part in node.target.split("."):
                value = getattr(value, part)
            if isinstance(value, torch.Tensor):
                found[node.target] = value
    return found


def drop_unread_tensors(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Delete the parameters and buffers the graph no longer reads (convert_pt2e keeps the FP32 weights)."""
    read = set(graph_tensors(graph))
    for name, _ in list(graph.named_parameters()) + list(graph.named_buffers()):
        if name not in read:
            owner, _, attr = name.rpartition(".")
            module = graph.get_submodule(owner) if owner else graph
            delattr(module, attr)
    return graph


def quantize_static_int8(model: nn.Module, tokenizer, max_length: int, calibration: list[str],
                         observer: str = "histogram", progress: bool = False) -> ExportedClassifier:
    """Export → prepare → calibrate on `calibration` → convert: static INT8, not yet compiled."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    prepared = prepare_static(model, tokenizer, max_length, observer)
    calibrate(prepared, tokenizer, calibration, max_length, progress=progress)
    converted = drop_unread_tensors(convert_pt2e(prepared))
    return ExportedClassifier(converted, model.config, model_input_names(model, tokenizer))


def save_static(clf: Classifier, directory: str | Path) -> Path:
    """Save a classifier around a converted graph (`ExportedClassifier`, uncompiled) with `torch.export.save`
    (a .pt2 file), the config, the tokenizer, and in the manifest the graph's input names."""
    model, tokenizer, max_length = clf.model, clf.tokenizer, clf.max_length
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kwargs, shapes = _example_and_shapes(model.graph, tokenizer, max_length)
    with torch.inference_mode(False), torch.no_grad():
        program = torch.export.export(model.graph, (), kwargs, dynamic_shapes=shapes, strict=False)
    torch.export.save(program, directory / STATIC_FILE)
    model.config.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    save_method(clf, directory, "save_static", quantizer="torchao pt2e prepare_pt2e/convert_pt2e, "
                "X86InductorQuantizer", input_names=model.input_names)
    return directory


def load_static(directory: str | Path) -> Classifier:
    """Load what `save_static` wrote: the exported graph as a module, in its classifier."""
    import torchao.quantization.pt2e.quantize_pt2e  # noqa: F401  (registers the quantized_decomposed ops)
    from transformers import AutoConfig

    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest.get("method", {}).get("saved_by") != "save_static":
        raise BookError(f"{directory} is not a static INT8 checkpoint: its manifest names no save_static.")
    graph = torch.export.load(directory / STATIC_FILE).module()
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    return classifier_from_folder(directory, ExportedClassifier(graph, config, manifest["method"]["input_names"]),
                                  manifest)


def calibration_scan(model: nn.Module, tokenizer, max_length: int, train_sentences: list[str], examples,
                     sizes: tuple[int, ...], observers: tuple[str, ...] = ("minmax", "histogram"),
                     batch_size: int = 64, padding: str = "longest", progress: bool = True) -> list[dict]:
    """Validation accuracy of static INT8 for each calibration-set size and observer.

    Calibration uses the first `n` of `train_sentences` (never validation). The converted graphs run
    uncompiled here (quantize/dequantize around FP32 kernels): the same grids as the compiled route,
    evaluated without compiling each of them (batched by length, as `evaluate` does by default).
    """
    from ..measure.evaluation import evaluate

    if max(sizes) > len(train_sentences):
        raise BookError(f"The scan asks for {max(sizes)} calibration sentences; {len(train_sentences)} given.")
    rows = []
    for observer in observers:
        for n in tqdm(sizes, desc=f"calibration ({observer})", disable=not progress):
            start = time.perf_counter()
            quantized = quantize_static_int8(model, tokenizer, max_length, train_sentences[:n], observer)
            seconds = time.perf_counter() - start
            result = evaluate(Classifier(quantized, tokenizer, "", max_length), examples, batch_size, padding,
                              progress=False)
            rows.append({"observer": observer, "n_sentences": n, "accuracy": result.accuracy,
                         "setup_seconds": seconds})
    return rows
