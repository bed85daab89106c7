"""Every route from the FP32 classifier to a deployable model, as data: one registry entry per route.

A `Variant` names a route, says in one line how it works, builds it from the FP32 classifier (with
calibration sentences where it needs them) or from the model another route built (its `parent`: a
pruned or distilled model, then quantized), saves it and loads it back. The pipeline, the report,
the figures and the chapters iterate over `VARIANTS`; adding a route means adding one entry here.
"""

from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core.errors import BookError
from ..core.models import Classifier, load_classifier, save_classifier, uncompiled
from ..data.sst2 import SentimentData
from ..methods.compiling import compile_and_warm, compiler_missing
from ..methods.onnx_runtime import OrtModel, export_onnx, onnxruntime_missing, quantize_onnx_dynamic, save_onnx
from ..methods.quantization import load_quantized, quantize_dynamic_int8, quantize_torchao_int8, save_quantized
from ..methods.static_quantization import ExportedClassifier, load_static, quantize_static_int8, save_static

BASELINE = "fp32"


@dataclass(frozen=True)
class BuildInputs:
    """What a builder may use besides the FP32 classifier."""

    calibration: list[str] = field(default_factory=list)  # sentences from the train split, never validation
    threads: int = 1
    scratch: Path = Path(tempfile.gettempdir())  # where a builder may write intermediate files
    batch_sizes: tuple[int, ...] = (1, 2)  # compiled routes compile for these before they are timed
    train: SentimentData | None = None  # labelled train sentences, for routes that change the model
    recovery_steps: int = 0  # fine-tuning batches after pruning (0: none, e.g. on a random-weight shape)
    distill_steps: int = 0  # training batches of a distilled student (0: the initialised student, untrained)
    seed: int = 0


@dataclass(frozen=True)
class Variant:
    """One route: how to build it, save it, load it, and how the book names and draws it."""

    name: str
    label: str
    method: str  # one line: what the route does
    precision: str  # "fp32" or "int8"
    build: Callable[[Classifier, BuildInputs], Classifier]
    save: Callable[[Classifier, Path], Path]  # returns the weights file
    load: Callable[[Path, int], Classifier]  # (directory, threads); compiled routes load uncompiled
    artifact: str  # folder under models/
    color: str
    deploys: str  # what you ship
    api: str  # maintained, deprecated…
    needs_calibration: bool = False
    needs_training: bool = False  # uses labelled train sentences (`BuildInputs.train`)
    changes_model: bool = False  # a different (pruned, distilled) model, not a faster copy of the same one
    compiled: bool = False
    requirements: tuple[Callable[[], str | None], ...] = ()
    parent: str | None = None  # the route whose built model this one starts from (None: the FP32 model)

    def unavailable(self) -> str | None:
        """Why this route cannot run on this machine, or None."""
        return next((reason for check in self.requirements if (reason := check())), None)


def _with_model(clf: Classifier, model) -> Classifier:
    return Classifier(model, clf.tokenizer, clf.source, clf.max_length)


def _compiled(clf: Classifier, inputs: BuildInputs) -> Classifier:
    return _with_model(clf, compile_and_warm(clf.model, clf.tokenizer, clf.max_length, inputs.batch_sizes))


def _not_x86() -> str | None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"the x86 inductor quantizer needs an x86-64 CPU; this is {platform.machine()}"
    return None


# --- builders -------------------------------------------------------------------------------------

def _dynamic(clf, _inputs, embeddings=False):
    return _with_model(clf, quantize_dynamic_int8(clf.model, embeddings=embeddings))


def _mixed(clf, inputs):
    from ..methods.sensitivity import keep_fp32, layer_sensitivity, mixed_precision_scan, p_positive, pick_k

    # train sentences (layers are chosen away from validation); `predict` batches them by length, so
    # the FP32 reference and every quantized copy see the same batches
    dev = inputs.calibration
    reference = p_positive(clf, dev)
    ranking = layer_sensitivity(clf, dev, reference=reference)
    n = len(ranking)
    scan = mixed_precision_scan(clf, ranking, dev, tuple(k for k in (0, 1, 2, 4, 8, 16) if k <= n),
                                reference=reference)
    k = pick_k(scan, len(dev))
    built = keep_fp32(clf, ranking, k)
    built.details = {"k": k, "dev_sentences": len(dev), "max_flip_rate": 0.005, "fp32_layers": [
        r["layer"] for r in ranking[:k]], "sensitivity": ranking, "scan": scan}
    return built


PRUNED_HEADS_FRACTION = 0.5  # of all attention heads, the least important by Michel et al.'s score


def _pruned_heads(clf, inputs):
    from ..methods.pruning import head_importance, least_important_heads, without_heads
    from ..methods.training import fine_tune

    importance = head_importance(clf, inputs.train)
    heads = least_important_heads(importance, PRUNED_HEADS_FRACTION)
    pruned = without_heads(clf, heads)
    if inputs.recovery_steps:
        losses = fine_tune(pruned, inputs.train, inputs.recovery_steps, seed=inputs.seed)
    pruned.details = {"fraction": PRUNED_HEADS_FRACTION, "heads_removed": {str(k): v for k, v in heads.items()},
                      "train_sentences": len(inputs.train), "recovery_steps": inputs.recovery_steps,
                      **({"losses": [round(x, 5) for x in losses]} if inputs.recovery_steps else {})}
    return pruned


DISTILL = {"temperature": 2.0, "alpha": 0.5, "lr": 5e-5}  # the distillation chapter's settings


def _distilled(clf, inputs):
    from ..methods.distillation import distil

    student, _losses = distil(clf, inputs.train, inputs.distill_steps, seed=inputs.seed, **DISTILL)
    return student


def _save_distilled(clf, directory):
    from ..methods.distillation import save_distilled

    return save_distilled(clf, directory) / "model.safetensors"


def _save_pruned(clf, directory):
    from ..methods.pruning import save_pruned

    return save_pruned(clf, directory) / "model.safetensors"


def _load_pruned(directory, _threads):
    from ..methods.pruning import load_pruned

    return load_pruned(directory)


def _static(clf, inputs):
    model = quantize_static_int8(clf.model, clf.tokenizer, clf.max_length, inputs.calibration)
    graph = compile_and_warm(model.graph, clf.tokenizer, clf.max_length, inputs.batch_sizes)
    return _with_model(clf, ExportedClassifier(graph, model.config, model.input_names))


def _onnx(clf, inputs, quantized=False):
    path = export_onnx(clf.model, clf.tokenizer, Path(inputs.scratch) / "model.onnx")
    if quantized:
        path = quantize_onnx_dynamic(path, Path(inputs.scratch) / "model_quantized.onnx")
    return _with_model(clf, OrtModel(path, clf.model.config, inputs.threads))


# --- savers and loaders ---------------------------------------------------------------------------

def _save_fp32(clf, directory):
    return save_classifier(clf, directory) / "model.safetensors"


def _save_eager_quantized(clf, directory):
    return save_quantized(_with_model(clf, uncompiled(clf.model)), directory) / "quantized_state_dict.pt"


def _load_eager_quantized(directory, _threads):
    return load_quantized(directory)


def _save_static(clf, directory):
    model = uncompiled(clf.model)
    meta = {"method": "torchao pt2e prepare_pt2e/convert_pt2e, X86InductorQuantizer", "max_length": clf.max_length,
            "source": clf.source}
    return save_static(model, clf.tokenizer, clf.max_length, directory, meta) / "model.pt2"


def _load_static(directory, _threads):
    from transformers import AutoTokenizer

    model, meta = load_static(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    return Classifier(model, tokenizer, meta["source"], int(meta["max_length"]))


def _onnx_saver(kind):
    def save(clf, directory):
        meta = {"kind": kind, "max_length": clf.max_length, "source": clf.source}
        return save_onnx(clf.model.path, clf.model.config, clf.tokenizer, directory, kind, meta)
    return save


def _onnx_loader(kind):
    def load(directory, threads):
        import json

        from transformers import AutoConfig, AutoTokenizer

        from ..methods.onnx_runtime import FILES, ONNX_SUBDIR

        directory = Path(directory)
        meta_path = directory / f"{Path(FILES[kind]).stem}.json"
        if not meta_path.is_file():
            raise BookError(f"{directory} holds no {kind} ONNX model: no {meta_path.name}.")
        meta = json.loads(meta_path.read_text())
        config = AutoConfig.from_pretrained(directory, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = OrtModel(directory / ONNX_SUBDIR / FILES[kind], config, threads)
        return Classifier(model, tokenizer, meta["source"], int(meta["max_length"]))
    return load


def _load_fp32(directory, _threads):
    return load_classifier(str(directory))


_TORCH_AO = "deprecated (torch.ao.quantization; still works)"
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("fp32", "FP32 eager", "the fine-tuned model as loaded: FP32 weights, eager PyTorch", "fp32",
            lambda clf, _: clf, _save_fp32, _load_fp32, "baseline", "#3b6ea5",
            "safetensors + transformers", "maintained"),
    Variant("fp32_compiled", "FP32 compiled", "torch.compile (inductor, freezing, dynamic shapes) of the FP32 model",
            "fp32", _compiled, _save_fp32, _load_fp32, "baseline", "#7aa6d6",
            "safetensors; compiles at start-up", "maintained", compiled=True, requirements=(compiler_missing,)),
    Variant("onnx_fp32", "FP32 ONNX Runtime", "exported to ONNX (opset 17) and run by ONNX Runtime, FP32",
            "fp32", lambda clf, inputs: _onnx(clf, inputs), _onnx_saver("fp32"), _onnx_loader("fp32"), "onnx",
            "#1f3f66", ".onnx file + onnxruntime", "maintained", requirements=(onnxruntime_missing,)),
    Variant("int8_dynamic", "INT8 dynamic (torch.ao)",
            "quantize_dynamic: INT8 Linear weights, activations quantized per batch at run time", "int8",
            _dynamic, _save_eager_quantized, _load_eager_quantized, "quantized", "#d9742b",
            "state_dict + load_quantized", _TORCH_AO),
    Variant("int8_dynamic_embeddings", "INT8 dynamic + 8-bit embeddings",
            "quantize_dynamic on Linear layers, plus 8-bit embedding rows (per-row float scale and offset)",
            "int8", lambda clf, inputs: _dynamic(clf, inputs, embeddings=True), _save_eager_quantized,
            _load_eager_quantized, "int8_dynamic_embeddings", "#b5521b", "state_dict + load_quantized", _TORCH_AO),
    Variant("int8_mixed", "INT8 mixed (sensitive layers FP32)",
            "quantize_dynamic on every Linear except the k most sensitive, ranked and k chosen on train sentences",
            "int8", _mixed, _save_eager_quantized, _load_eager_quantized, "int8_mixed", "#e8a33d",
            "state_dict + load_quantized", _TORCH_AO, needs_calibration=True),
    Variant("int8_static", "INT8 static (PT2E, compiled)",
            "PT2E static PTQ: activation ranges calibrated on train sentences, x86 inductor, torch.compile",
            "int8", _static, _save_static, _load_static, "int8_static", "#8e44ad",
            ".pt2 exported program; compiles at start-up", "maintained (torchao pt2e)",
            needs_calibration=True, compiled=True, requirements=(_not_x86, compiler_missing)),
    Variant("torchao_int8", "INT8 torchao (eager)",
            "torchao quantize_ with Int8DynamicActivationInt8WeightConfig, run eagerly", "int8",
            lambda clf, _: _with_model(clf, quantize_torchao_int8(clf.model)), _save_eager_quantized,
            _load_eager_quantized, "torchao_int8", "#7fbf6a", "state_dict + torchao", "maintained (torchao)"),
    Variant("torchao_int8_compiled", "INT8 torchao (compiled)",
            "torchao Int8DynamicActivationInt8WeightConfig, then torch.compile fuses quantize and matmul",
            "int8", lambda clf, inputs: _compiled(_with_model(clf, quantize_torchao_int8(clf.model)), inputs),
            _save_eager_quantized, _load_eager_quantized, "torchao_int8", "#3d7f32",
            "state_dict + torchao; compiles at start-up", "maintained (torchao)", compiled=True,
            requirements=(compiler_missing,)),
    Variant("pruned_heads", "Half the heads pruned (FP32)",
            "the least important half of the attention heads removed (gradient score on train sentences), "
            "then a short recovery fine-tune on train sentences", "fp32", _pruned_heads, _save_pruned,
            _load_pruned, "pruned_heads", "#4c956c", "safetensors + load_pruned", "maintained",
            needs_training=True, changes_model=True),
    Variant("pruned_heads_int8_dynamic", "Half the heads pruned + INT8",
            "pruned_heads, then quantize_dynamic on every Linear", "int8", _dynamic, _save_eager_quantized,
            _load_eager_quantized, "pruned_heads_int8_dynamic", "#2d6a4f", "state_dict + load_quantized",
            _TORCH_AO, needs_training=True, changes_model=True, parent="pruned_heads"),
    Variant("distilled", "Distilled student (FP32)",
            "half the encoder layers (every other one, copied from the teacher), trained on train sentences "
            "with the teacher's soft targets and the labels", "fp32", _distilled, _save_distilled, _load_fp32,
            "distilled", "#6c757d", "safetensors + transformers", "maintained", needs_training=True,
            changes_model=True),
    Variant("distilled_int8_dynamic", "Distilled student + INT8", "distilled, then quantize_dynamic on every Linear",
            "int8", _dynamic, _save_eager_quantized, _load_eager_quantized, "distilled_int8_dynamic", "#343a40",
            "state_dict + load_quantized", _TORCH_AO, needs_training=True, changes_model=True, parent="distilled"),
    Variant("onnx_int8_dynamic", "INT8 dynamic (ONNX Runtime)",
            "ONNX Runtime quantize_dynamic: INT8 MatMul and embedding weights, activations per call", "int8",
            lambda clf, inputs: _onnx(clf, inputs, quantized=True), _onnx_saver("int8_dynamic"),
            _onnx_loader("int8_dynamic"), "onnx", "#c0392b", ".onnx file + onnxruntime", "maintained",
            requirements=(onnxruntime_missing,)),
)}


def select_variants(names: str | list[str] | None = None) -> list[Variant]:
    """The routes to run, in registry order, the FP32 baseline always first and every chosen route's
    parent before it; refuses unknown names."""
    if names is None or names == "all":
        return list(VARIANTS.values())
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise BookError(f"Unknown variant(s) {unknown}; choose from {list(VARIANTS)}.")
    wanted = set(names) | {BASELINE}
    wanted |= {VARIANTS[n].parent for n in names if VARIANTS[n].parent}
    return [v for v in VARIANTS.values() if v.name in wanted]


def build_variant(variant: Variant, fp32: Classifier, inputs: BuildInputs,
                  parent: Classifier | None = None) -> tuple[Classifier, float]:
    """Build one route from the FP32 classifier, or from `parent`, the model its parent route built;
    returns it and the seconds this step took (compiling included, the parent's own build not)."""
    if variant.parent and parent is None:
        raise BookError(f"{variant.name} starts from the model {variant.parent} builds; build that route first.")
    if variant.needs_calibration and not inputs.calibration:
        raise BookError(f"{variant.name} needs calibration sentences from the train split.")
    if variant.needs_training and not inputs.train:
        raise BookError(f"{variant.name} needs labelled sentences from the train split.")
    start = time.perf_counter()
    built = variant.build(parent if variant.parent else fp32, inputs)
    return built, time.perf_counter() - start


def label(name: str) -> str:
    """The name a figure or table shows for a variant."""
    return VARIANTS[name].label if name in VARIANTS else name


def color(name: str) -> str | None:
    return VARIANTS[name].color if name in VARIANTS else None
