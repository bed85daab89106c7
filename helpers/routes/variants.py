"""Every route from the FP32 classifier to a deployable model, as data: one registry entry per route.

A `Variant` names a route, says in one line how it works, makes its config (every setting its build
uses, `configs`) from the run's settings, builds it from the FP32 classifier (with train sentences
where it needs them) or from the model another route built (its `parent`: a pruned or distilled
model, then quantized), saves it and loads it back. Builders return the model and what they chose.
Every route is saved in one layout: `models/<route>/`, its files and `route.json` (the route, its
config, what it chose); `load_route` reads any of them back from that file alone. The pipeline, the
report, the figures and the chapters iterate over `VARIANTS`: adding a route means adding one entry.
"""

from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from ..core.errors import BookError
from ..core.models import (MANIFEST, Classifier, classifier_from_folder, load_classifier, read_manifest,
                           save_classifier, save_method, uncompiled, write_manifest)
from ..data.sst2 import SentimentData
from ..methods.compiling import compile_and_warm, compiler_missing
from ..measure.environment import cpu_model_and_flags
from ..measure.profiles import Profile
from ..methods.onnx_runtime import (ORT_PRESETS, OrtModel, export_onnx, onnxruntime_missing, optimize_onnx, ort_preset,
                                   quantize_onnx_dynamic, quantize_onnx_nbits, save_onnx)
from ..methods.quantization import load_quantized, quantize_dynamic_int8, quantize_torchao_int8, save_quantized
from ..methods.training import TRAIN_BATCH
from ..methods.static_quantization import ExportedClassifier, load_static, quantize_static_int8, save_static
from ..methods.openvino import openvino_missing
from .record import BASELINE
from ..methods.configs import (AsLoaded, BFloat16, Compiled, Distilled, DynamicInt8, MixedInt8, Onnx, OnnxNBits, OpenVino,
                               OpenVinoWeights, IntxWeights, QatIntx,
                               PrunedHeads, RouteConfig, StaticInt8, TorchaoInt8)
from .configs import RunSettings

ROUTE_FILE = MANIFEST  # in every saved route's folder: the route, its config, what it chose, how it was saved


@dataclass(frozen=True)
class BuildInputs:
    """The data a builder may use besides the FP32 classifier (its settings are in its config)."""

    calibration: list[str] = field(default_factory=list)  # sentences from the train split, never validation
    threads: int = 1
    scratch: Path = Path(tempfile.gettempdir())  # where a builder may write intermediate files
    train: SentimentData | None = None  # labelled train sentences, for routes that change the model
    # the validation sentences the run measures: only for a learning curve recorded beside a trained
    # route, never to choose anything (the curve does not change the weights)
    examples: SentimentData | None = None
    # labelled train sentences that nothing trains on: where a route chooses its settings
    held_out: SentimentData | None = None


Built = tuple[Classifier, dict]  # the route's model, and what its build chose (for the record)


@dataclass(frozen=True)
class Variant:
    """One route: its settings, how to build, save and load it, and how the book names and draws it."""

    name: str
    label: str
    method: str  # one line: what the route does
    precision: str  # "fp32", "bf16", "int8", "int4" or "int3" (the weights' narrowest type)
    configure: Callable[[RunSettings], RouteConfig]  # every setting the build uses, for this run
    build: Callable[[Classifier, RouteConfig, BuildInputs], Built]
    save: Callable[[Classifier, Path], Path]  # returns the weights file
    load: Callable[[Path, int], Classifier]  # (directory, threads); compiled routes load uncompiled
    color: str
    deploys: str  # what you ship
    api: str  # maintained, deprecated…
    needs_calibration: bool = False
    needs_training: bool = False  # uses labelled train sentences (`BuildInputs.train`)
    needs_held_out: bool = False  # chooses a setting on held-out train sentences (`BuildInputs.held_out`)
    changes_model: bool = False  # a different (pruned, distilled) model, not a faster copy of the same one
    compiled: bool = False
    requirements: tuple[Callable[[], str | None], ...] = ()
    parent: str | None = None  # the route whose built model this one starts from (None: the FP32 model)
    chapter: int = 14  # the chapter that introduces it: no table or figure shows it before

    def unavailable(self) -> str | None:
        """Why this route cannot run on this machine, or None."""
        return next((reason for check in self.requirements if (reason := check())), None)


def _first(sentences: list[str], n: int, what: str) -> list[str]:
    """The first `n` train sentences a build's config asks for; refuses fewer."""
    if len(sentences) < n:
        raise BookError(f"{what} needs {n} train sentences; {len(sentences)} were given.")
    return sentences[:n]


def _first_examples(train: SentimentData, n: int | None, what: str) -> SentimentData:
    """The first `n` labelled train sentences (None: all that were given); refuses fewer."""
    if n is None:
        return train
    _first(train.sentences, n, what)
    return train if len(train) == n else train.subset(list(range(n)))


def _no_bf16_units() -> str | None:
    """Why bfloat16 would not pay here: a CPU without AVX-512 BF16 or AMX converts every bfloat16 product
    to FP32 and back, slower than FP32 itself."""
    if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        return ("this CPU has neither AVX-512 BF16 nor AMX, so each bfloat16 product would be computed in FP32 "
                "and converted back, slower than FP32 itself")
    return None


def _not_x86() -> str | None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"the x86 inductor quantizer needs an x86-64 CPU; this is {platform.machine()}"
    return None


# --- builders -------------------------------------------------------------------------------------

def _as_loaded(clf, _config, _inputs):
    return clf, {}


def _compiled(clf, config, _inputs):
    return clf.with_model(compile_and_warm(clf.model, clf.tokenizer, clf.max_length, config.batch_sizes)), {}


def _bf16(clf, _config, _inputs):
    import copy

    return clf.with_model(copy.deepcopy(clf.model).to(torch.bfloat16).eval()), {}


def _dynamic(clf, config, _inputs):
    return clf.with_model(quantize_dynamic_int8(clf.model, embeddings=config.embeddings)), {}


def _mixed(clf, config, inputs):
    from ..methods.sensitivity import keep_fp32, layer_sensitivity, mixed_precision_scan, p_positive, pick_k

    # held-out train sentences (layers are chosen away from validation); `predict` batches them by
    # length, so the FP32 reference and every quantized copy see the same batches
    dev = _first_examples(inputs.held_out, config.held_out_sentences, "int8_mixed")
    reference = p_positive(clf, dev.sentences)
    ranking = layer_sensitivity(clf, dev.sentences, reference=reference)
    ks = tuple(k for k in config.candidate_ks if k <= len(ranking))
    scan = mixed_precision_scan(clf, ranking, dev.sentences, ks, reference=reference, labels=dev.labels)
    k = pick_k(scan)
    return keep_fp32(clf, ranking, k), {"k": k, "fp32_layers": [r["layer"] for r in ranking[:k]],
                                        "sensitivity": ranking, "scan": scan}


def _intx(clf, config, _inputs):
    from ..methods.qat import quantize_intx

    return clf.with_model(quantize_intx(clf.model, config)), {}


def _qat(clf, config, inputs):
    from ..methods.qat import train_qat

    train = _first_examples(inputs.train, config.train_sentences, "qat_int3_weights")
    held_out = _first_examples(inputs.held_out, config.held_out_sentences, "qat_int3_weights")
    return train_qat(clf, train, held_out, config)


def _pruned_heads(clf, config, inputs):
    from ..methods.pruning import head_importance, least_important_heads, without_heads
    from ..methods.training import fine_tune

    train = _first_examples(inputs.train, config.train_sentences, "pruned_heads")
    heads = least_important_heads(head_importance(clf, train), config.fraction)
    pruned = without_heads(clf, heads)
    chosen = {"heads_removed": {str(k): v for k, v in heads.items()}}
    if config.recovery_steps:
        losses = fine_tune(pruned, train, config.recovery_steps, seed=config.seed)
        chosen["losses"] = [round(x, 5) for x in losses]
    return pruned, chosen


def _distilled(clf, config, inputs):
    from ..methods.distillation import distil

    train = _first_examples(inputs.train, config.train_sentences, "distilled")
    student, _losses = distil(clf, train, config, curve_on=inputs.examples)
    return student, student.details


def _static(clf, config, inputs):
    calibration = _first(inputs.calibration, config.calibration_sentences, "int8_static")
    model = quantize_static_int8(clf.model, clf.tokenizer, clf.max_length, calibration, config.observer)
    graph = compile_and_warm(model.graph, clf.tokenizer, clf.max_length, config.batch_sizes)
    return clf.with_model(ExportedClassifier(graph, model.config, model.input_names)), {}


def _torchao(clf, config, _inputs):
    model = quantize_torchao_int8(clf.model)
    if config.compiled:
        model = compile_and_warm(model, clf.tokenizer, clf.max_length, config.batch_sizes)
    return clf.with_model(model), {}


def _onnx(clf, config, inputs):
    scratch, chosen = Path(inputs.scratch), {}
    path = export_onnx(clf.model, clf.tokenizer, scratch / "model.onnx", config.opset,
                       attention="eager" if config.optimized else None)
    if config.optimized:
        path, chosen["fused_operators"] = optimize_onnx(path, scratch / "model_optimized.onnx", clf.model.config)
    if config.quantized:
        path = quantize_onnx_dynamic(path, scratch / f"{path.stem}_quantized.onnx", config)
    return clf.with_model(OrtModel(path, clf.model.config, inputs.threads)), chosen


def _onnx_nbits(clf, config, inputs):
    scratch = Path(inputs.scratch)
    path = export_onnx(clf.model, clf.tokenizer, scratch / "model.onnx", config.opset)
    path = quantize_onnx_nbits(path, scratch / "model_q4.onnx", config)
    return clf.with_model(OrtModel(path, clf.model.config, inputs.threads)), {}


def _openvino(clf, config, inputs):
    from ..methods.openvino import OvModel, quantize_nncf, read_onnx, with_inference_precision

    model = read_onnx(export_onnx(clf.model, clf.tokenizer, Path(inputs.scratch) / "model.onnx", config.opset))
    if config.quantized:
        calibration = _first(inputs.calibration, config.calibration_sentences, "openvino_int8")
        model = quantize_nncf(model, clf.tokenizer, calibration, clf.max_length)
    model = with_inference_precision(model, config.inference_precision)
    return clf.with_model(OvModel(model, clf.model.config, inputs.threads)), {}


def _openvino_weights(clf, config, inputs):
    from ..methods.openvino import OvModel, compress_weights_nncf, read_onnx

    model = read_onnx(export_onnx(clf.model, clf.tokenizer, Path(inputs.scratch) / "model.onnx", config.opset))
    return clf.with_model(OvModel(compress_weights_nncf(model, config), clf.model.config, inputs.threads)), {}


# --- savers and loaders ---------------------------------------------------------------------------

def _save_fp32(clf, directory):
    return save_classifier(clf, directory) / "model.safetensors"


def _save_eager_quantized(clf, directory):
    return save_quantized(clf.with_model(uncompiled(clf.model)), directory) / "quantized_state_dict.pt"


def _load_eager_quantized(directory, _threads):
    return load_quantized(directory)



def _save_pruned(clf, directory):
    from ..methods.pruning import save_pruned

    return save_pruned(clf, directory) / "model.safetensors"


def _save_intx(clf, directory):
    from ..methods.qat import save_intx

    return save_intx(clf, directory)


def _load_intx(directory, _threads):
    from ..methods.qat import load_intx

    return load_intx(directory)


def _load_pruned(directory, _threads):
    from ..methods.pruning import load_pruned

    return load_pruned(directory)


def _save_static(clf, directory):
    return save_static(clf.with_model(uncompiled(clf.model)), directory) / "model.pt2"


def _load_static(directory, _threads):
    return load_static(directory)


def _save_beside(clf: Classifier, directory, saved_by: str, **facts) -> None:
    """What a runtime's model file needs beside it to answer as a Classifier: the transformers config,
    the tokenizer, and the manifest (source, maximum length, `facts`)."""
    clf.model.config.save_pretrained(directory)
    clf.tokenizer.save_pretrained(directory)
    save_method(clf, directory, saved_by, **facts)


def _load_beside(directory: Path, saved_by: str, what: str, model_for) -> Classifier:
    """A Classifier from a folder `_save_beside` filled: `model_for(config)` makes the runtime's model."""
    from transformers import AutoConfig

    manifest = read_manifest(directory)
    if manifest.get("method", {}).get("saved_by") != saved_by:
        raise BookError(f"{directory} holds no {what}: its manifest names {manifest.get('method')!r}.")
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    return classifier_from_folder(directory, model_for(config), manifest)


def _onnx_saver(kind):
    def save(clf, directory):
        from ..methods.onnx_runtime import FILES, ONNX_SUBDIR

        target = save_onnx(clf.model.path, directory, kind)
        _save_beside(clf, directory, "save_onnx", kind=kind, file=f"{ONNX_SUBDIR}/{FILES[kind]}")
        return target
    return save


def _onnx_loader(kind):
    def load(directory, threads):
        from ..methods.onnx_runtime import FILES, ONNX_SUBDIR

        directory = Path(directory)
        return _load_beside(directory, "save_onnx", f"{kind} ONNX model",
                            lambda config: OrtModel(directory / ONNX_SUBDIR / FILES[kind], config, threads))
    return load


def _save_openvino(clf, directory):
    from ..methods.openvino import save_openvino

    path = save_openvino(clf.model.ov_model, directory)
    _save_beside(clf, directory, "save_openvino")
    return path.with_suffix(".bin")


def _load_openvino(directory, threads):
    from ..methods.openvino import load_openvino

    directory = Path(directory)
    return _load_beside(directory, "save_openvino", "OpenVINO route",
                        lambda config: load_openvino(directory, config, threads))


def _load_fp32(directory, _threads):
    return load_classifier(str(directory))


def _load_bf16(directory, _threads):
    clf = load_classifier(str(directory))  # transformers loads FP32; the saved values are bfloat16 exactly
    return clf.with_model(clf.model.to(torch.bfloat16))


# --- configs from the run's settings -------------------------------------------------------------

def _compiled_config(run: RunSettings) -> Compiled:
    return Compiled(batch_sizes=run.batch_sizes)


def _static_config(run: RunSettings) -> StaticInt8:
    return StaticInt8(calibration_sentences=run.calibration_sentences, batch_sizes=run.batch_sizes)


def _pruned_config(run: RunSettings) -> PrunedHeads:
    return PrunedHeads(train_sentences=run.train_sentences, recovery_steps=run.recovery_steps, seed=run.seed)


def _onnx_optimized_int8_config(run: RunSettings) -> Onnx:
    # this machine's instruction set, as Optimum would choose, unless the run names another preset
    preset = run.ort_preset or ort_preset(cpu_model_and_flags()[1])
    if preset not in ORT_PRESETS:
        raise BookError(f"No ONNX Runtime preset {preset!r}; choose from {', '.join(ORT_PRESETS)}.")
    return Onnx(optimized=True, quantized=True, preset=preset, **ORT_PRESETS[preset])


def _qat_config(run: RunSettings) -> QatIntx:
    """One pass over as many train sentences as the steps draw (the teacher labels each once), at most
    those the run may train on."""
    wanted = run.qat_steps * TRAIN_BATCH
    return QatIntx(steps=run.qat_steps, held_out_sentences=run.held_out_sentences,
                   train_sentences=wanted if run.distill_sentences is None else min(wanted, run.distill_sentences))


def _distilled_config(run: RunSettings) -> Distilled:
    return Distilled(steps=run.distill_steps, train_sentences=run.distill_sentences, seed=run.seed)


_TORCH_AO = "deprecated (torch.ao.quantization; still works)"
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("fp32", "FP32 eager", "the fine-tuned model as loaded: FP32 weights, eager PyTorch", "fp32",
            lambda _run: AsLoaded(), _as_loaded, _save_fp32, _load_fp32, "#3b6ea5",
            "safetensors + transformers", "maintained", chapter=2),
    Variant("fp32_compiled", "FP32 compiled", "torch.compile (inductor, freezing, dynamic shapes) of the FP32 model",
            "fp32", _compiled_config, _compiled, _save_fp32, _load_fp32, "#7aa6d6",
            "safetensors; compiles at start-up", "maintained", compiled=True, requirements=(compiler_missing,),
            chapter=2),
    Variant("onnx_fp32", "FP32 ONNX Runtime", "exported to ONNX (opset 17) and run by ONNX Runtime, FP32",
            "fp32", lambda _run: Onnx(), _onnx, _onnx_saver("fp32"), _onnx_loader("fp32"),
            "#1f3f66", ".onnx file + onnxruntime", "maintained", requirements=(onnxruntime_missing,), chapter=2),
    Variant("int8_dynamic", "INT8 dynamic (torch.ao)",
            "quantize_dynamic: INT8 Linear weights, activations quantized per batch at run time", "int8",
            lambda _run: DynamicInt8(), _dynamic, _save_eager_quantized, _load_eager_quantized, "#d9742b",
            "state_dict + load_quantized", _TORCH_AO, chapter=3),
    Variant("int8_dynamic_embeddings", "INT8 dynamic + 8-bit embeddings",
            "quantize_dynamic on Linear layers, plus 8-bit embedding rows (per-row float scale and offset)",
            "int8", lambda _run: DynamicInt8(embeddings=True), _dynamic, _save_eager_quantized,
            _load_eager_quantized, "#b5521b", "state_dict + load_quantized", _TORCH_AO, chapter=7),
    Variant("int8_mixed", "INT8 mixed (sensitive layers FP32)",
            "quantize_dynamic on every Linear except the k most sensitive, ranked and k chosen on held-out "
            "train sentences", "int8", lambda run: MixedInt8(held_out_sentences=run.held_out_sentences), _mixed,
            _save_eager_quantized, _load_eager_quantized, "#e8a33d", "state_dict + load_quantized", _TORCH_AO,
            needs_held_out=True, chapter=7),
    Variant("int8_static", "INT8 static (PT2E, compiled)",
            "PT2E static PTQ: activation ranges calibrated on train sentences, x86 inductor, torch.compile",
            "int8", _static_config, _static, _save_static, _load_static, "#8e44ad",
            ".pt2 exported program; compiles at start-up", "maintained (torchao pt2e)",
            needs_calibration=True, compiled=True, requirements=(_not_x86, compiler_missing), chapter=6),
    Variant("torchao_int8", "INT8 torchao (eager)",
            "torchao quantize_ with Int8DynamicActivationInt8WeightConfig, run eagerly", "int8",
            lambda _run: TorchaoInt8(), _torchao, _save_eager_quantized, _load_eager_quantized, "#7fbf6a",
            "state_dict + torchao", "maintained (torchao)", chapter=3),
    Variant("torchao_int8_compiled", "INT8 torchao (compiled)",
            "torchao Int8DynamicActivationInt8WeightConfig, then torch.compile fuses quantize and matmul",
            "int8", lambda run: TorchaoInt8(compiled=True, batch_sizes=run.batch_sizes), _torchao,
            _save_eager_quantized, _load_eager_quantized, "#3d7f32",
            "state_dict + torchao; compiles at start-up", "maintained (torchao)", compiled=True,
            requirements=(compiler_missing,), chapter=8),
    Variant("pruned_heads", "Half the heads pruned (FP32)",
            "the least important half of the attention heads removed (gradient score on train sentences), "
            "then a short recovery fine-tune on train sentences", "fp32", _pruned_config, _pruned_heads,
            _save_pruned, _load_pruned, "#4c956c", "safetensors + load_pruned", "maintained",
            needs_training=True, changes_model=True, chapter=10),
    Variant("pruned_heads_int8_dynamic", "Half the heads pruned + INT8",
            "pruned_heads, then quantize_dynamic on every Linear", "int8", lambda _run: DynamicInt8(), _dynamic,
            _save_eager_quantized, _load_eager_quantized, "#2d6a4f", "state_dict + load_quantized",
            _TORCH_AO, needs_training=True, changes_model=True, parent="pruned_heads", chapter=10),
    Variant("distilled", "Distilled student (FP32)",
            "half the encoder layers (every other one, copied from the teacher), trained on train sentences "
            "with the teacher's soft targets and the labels", "fp32", _distilled_config, _distilled,
            _save_fp32, _load_fp32, "#6c757d", "safetensors + transformers", "maintained",
            needs_training=True, changes_model=True, chapter=11),
    Variant("distilled_int8_dynamic", "Distilled student + INT8", "distilled, then quantize_dynamic on every Linear",
            "int8", lambda _run: DynamicInt8(), _dynamic, _save_eager_quantized, _load_eager_quantized, "#343a40",
            "state_dict + load_quantized", _TORCH_AO, needs_training=True, changes_model=True, parent="distilled",
            chapter=11),
    Variant("onnx_int8_dynamic", "INT8 dynamic (ONNX Runtime)",
            "ONNX Runtime quantize_dynamic: INT8 MatMul and embedding weights, activations per call", "int8",
            lambda _run: Onnx(quantized=True), _onnx, _onnx_saver("int8_dynamic"), _onnx_loader("int8_dynamic"),
            "#c0392b", ".onnx file + onnxruntime", "maintained", requirements=(onnxruntime_missing,), chapter=8),
    Variant("onnx_fp32_optimized", "FP32 ONNX Runtime, optimized",
            "exported with eager attention, then ONNX Runtime's transformer optimizer fuses attention, "
            "LayerNorm and GELU; FP32", "fp32", lambda _run: Onnx(optimized=True), _onnx,
            _onnx_saver("fp32_optimized"), _onnx_loader("fp32_optimized"), "#0b2545", ".onnx file + onnxruntime",
            "maintained", requirements=(onnxruntime_missing,), chapter=8),
    Variant("onnx_int8_optimized", "INT8 ONNX Runtime, optimized",
            "the optimized graph, then ONNX Runtime quantize_dynamic with the settings this CPU's instruction "
            "set suits (Optimum's presets)", "int8", _onnx_optimized_int8_config, _onnx,
            _onnx_saver("int8_optimized"), _onnx_loader("int8_optimized"), "#7b1e1e", ".onnx file + onnxruntime",
            "maintained", requirements=(onnxruntime_missing,), chapter=8),
    Variant("onnx_int4_weights", "4-bit weights (ONNX Runtime)",
            "ONNX Runtime's block-wise weight-only quantization: MatMul weights and embedding tables in 4 bits, "
            "one scale per block of 128 (MatMulNBits, GatherBlockQuantized)", "int4",
            lambda _run: OnnxNBits(), _onnx_nbits, _onnx_saver("int4_weights"), _onnx_loader("int4_weights"),
            "#e67e22", ".onnx file + onnxruntime", "maintained", requirements=(onnxruntime_missing,), chapter=13),
    Variant("bf16", "BF16 (PyTorch)", "the FP32 model cast to bfloat16: every weight and product in 16 bits",
            "bf16", lambda _run: BFloat16(), _bf16, _save_fp32, _load_bf16, "#16a085", "safetensors + transformers",
            "maintained", requirements=(_no_bf16_units,), chapter=13),
    Variant("openvino_fp32", "FP32 OpenVINO", "the ONNX export read and compiled by OpenVINO for this CPU, FP32",
            "fp32", lambda _run: OpenVino(), _openvino, _save_openvino, _load_openvino, "#5b2a86",
            "OpenVINO IR (.xml + .bin) + openvino", "maintained", requirements=(onnxruntime_missing, openvino_missing),
            chapter=8),
    Variant("openvino_int8", "INT8 OpenVINO (NNCF)",
            "NNCF post-training INT8 of the OpenVINO model (transformer preset), activation ranges calibrated "
            "on train sentences", "int8",
            lambda run: OpenVino(quantized=True, calibration_sentences=run.calibration_sentences), _openvino,
            _save_openvino, _load_openvino, "#9b59b6", "OpenVINO IR (.xml + .bin) + openvino", "maintained",
            needs_calibration=True, requirements=(onnxruntime_missing, openvino_missing), chapter=8),
    Variant("openvino_bf16", "BF16 OpenVINO",
            "the OpenVINO model compiled to compute in bfloat16 (INFERENCE_PRECISION_HINT bf16, saved in the "
            "model); weights stored in FP32, converted by the CPU plugin", "bf16",
            lambda _run: OpenVino(inference_precision="bf16"), _openvino, _save_openvino, _load_openvino,
            "#117a65", "OpenVINO IR (.xml + .bin) + openvino", "maintained",
            requirements=(onnxruntime_missing, openvino_missing, _no_bf16_units), chapter=13),
    Variant("openvino_int4_weights", "4-bit weights (OpenVINO, NNCF)",
            "NNCF compress_weights on the OpenVINO model: every MatMul weight and embedding table in 4 bits, "
            "one symmetric scale per group of 128; activations FP32", "int4", lambda _run: OpenVinoWeights(),
            _openvino_weights, _save_openvino, _load_openvino, "#d35400", "OpenVINO IR (.xml + .bin) + openvino",
            "maintained", requirements=(onnxruntime_missing, openvino_missing), chapter=13),
    Variant("ptq_int3_weights", "3-bit weights, INT8 activations (torchao PTQ)",
            "torchao Int8DynamicActivationIntxWeightConfig: every Linear weight in 3 bits, one scale per output "
            "channel; activations INT8 per token", "int3", lambda _run: IntxWeights(), _intx, _save_intx,
            _load_intx, "#a04000", "state_dict + torchao", "maintained (torchao)", chapter=13),
    Variant("qat_int3_weights", "3-bit weights, INT8 activations (torchao QAT)",
            "the same grid learnt by quantization-aware training (torchao QATConfig) on train sentences, the "
            "step kept chosen on held-out train sentences", "int3",
            _qat_config,
            _qat, _save_intx, _load_intx, "#6e2c00", "state_dict + torchao", "maintained (torchao)",
            needs_training=True, needs_held_out=True, changes_model=True, chapter=13),
)}


def introduced_by(chapter: int) -> list[str]:
    """The routes that chapters up to `chapter` have introduced: all a chapter's tables may show."""
    return [n for n, v in VARIANTS.items() if v.chapter <= chapter]


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


def within_profile(variants: list[Variant], profile: Profile) -> list[Variant]:
    """`variants`, those the profile leaves to the full build recorded as skipped with its reason."""
    return [v if (reason := profile.leaves_out(v.name)) is None else
            replace(v, requirements=(*v.requirements, lambda reason=reason: reason)) for v in variants]


def build_variant(variant: Variant, fp32: Classifier, config: RouteConfig, inputs: BuildInputs,
                  parent: Classifier | None = None) -> tuple[Classifier, dict, float]:
    """Build one route from the FP32 classifier, or from `parent`, the model its parent route built, with
    `config` (see `Variant.configure`); returns it, what its build chose, and the seconds this step took
    (compiling included, the parent's own build not)."""
    if variant.parent and parent is None:
        raise BookError(f"{variant.name} starts from the model {variant.parent} builds; build that route first.")
    if variant.needs_calibration and not inputs.calibration:
        raise BookError(f"{variant.name} needs calibration sentences from the train split.")
    if variant.needs_training and not inputs.train:
        raise BookError(f"{variant.name} needs labelled sentences from the train split.")
    if variant.needs_held_out and not inputs.held_out:
        raise BookError(f"{variant.name} needs labelled held-out sentences from the train split.")
    start = time.perf_counter()
    built, chosen = variant.build(parent if variant.parent else fp32, config, inputs)
    return built, chosen, time.perf_counter() - start


def save_route(variant: Variant, built: Classifier, config: RouteConfig, chosen: dict, directory: Path) -> Path:
    """Save a built route in `directory` (its files, then `route.json`: the route, its config, what it
    chose); returns the weights file."""
    directory = Path(directory)
    weights = variant.save(built, directory)
    write_manifest(directory, route=variant.name, parent=variant.parent, config=config.as_dict(), chosen=chosen,
                   weights=str(weights.relative_to(directory)), source=built.source, max_length=built.max_length,
                   torch=torch.__version__)
    return weights


def load_route(directory: str | Path, threads: int = 1) -> tuple[Classifier, dict]:
    """Load any route `save_route` wrote, by the route its `route.json` names; returns it and that file."""
    meta = read_manifest(directory)
    if meta.get("route") not in VARIANTS:
        raise BookError(f"{Path(directory) / ROUTE_FILE} names the route {meta.get('route')!r} (routes are saved "
                        f"by save_route); this book has {list(VARIANTS)}.")
    return VARIANTS[meta["route"]].load(Path(directory), threads), meta


def label(name: str) -> str:
    """The name a figure or table shows for a variant."""
    return VARIANTS[name].label if name in VARIANTS else name


def color(name: str) -> str | None:
    return VARIANTS[name].color if name in VARIANTS else None
