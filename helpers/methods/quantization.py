"""Quantizing a model's Linear layers to INT8: PyTorch's dynamic quantization and torchao's, and
saving and loading the quantized models (which `save_pretrained` cannot round-trip)."""

from __future__ import annotations

import copy as _copy
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..core.errors import BookError
from ..core.models import Classifier, check_binary, classifier_from_folder, read_manifest, save_method


def quantize_dynamic_int8(model: nn.Module, engine: str | None = None, copy: bool = True,
                          embeddings: bool = False, layers: set[str] | None = None) -> nn.Module:
    """Dynamic INT8 post-training quantization of every nn.Linear (weights now, activations per batch).

    Calls the seed's method, `torch.ao.quantization.quantize_dynamic`, which this torch version
    marks deprecated (it still works); `engine` picks the kernel library (x86, fbgemm, qnnpack).
    With `embeddings=True` every nn.Embedding is also stored in 8 bits, weight-only, with a float
    scale and zero-point per row (`float_qparams_weight_only_qconfig`): lookups return FP32 rows.
    With `layers`, only the Linear layers of those names are quantized (the rest stay FP32).
    The two deprecation notices chapter 3 explains (KNOWN_WARNINGS) are silenced here, nothing else.
    """
    from torch.ao.quantization import default_dynamic_qconfig, float_qparams_weight_only_qconfig

    if engine is not None:
        torch.backends.quantized.engine = engine
    source = _copy.deepcopy(model) if copy else model
    if layers is not None:
        linear = {name for name, m in source.named_modules() if type(m) is nn.Linear}
        if not set(layers) <= linear:
            raise ValueError(f"Not Linear layers of this model: {sorted(set(layers) - linear)[:3]}")
        spec = {name: default_dynamic_qconfig for name in layers}
    else:
        spec = {nn.Linear: default_dynamic_qconfig}
    if embeddings:
        spec[nn.Embedding] = float_qparams_weight_only_qconfig
    with known_quantization_warnings_silenced():
        return torch.ao.quantization.quantize_dynamic(source.eval(), spec, dtype=torch.qint8)


def quantize_torchao_int8(model: nn.Module, copy: bool = True) -> nn.Module:
    """The modern path: torchao's `quantize_` with dynamic INT8 activations and INT8 weights."""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    target = _copy.deepcopy(model) if copy else model
    quantize_(target.eval(), Int8DynamicActivationInt8WeightConfig())
    return target


def weight_sqnr_by_layer(model: nn.Module, bits: int = 8) -> list[dict]:
    """Per-tensor and per-channel weight SQNR (dB) of every nn.Linear: where quantization hurts most."""
    from ..core.numerics import fake_quantize, quantization_error

    rows = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not _is_dynamic_quantized_linear(module):
            weight = module.weight.detach()
            rows.append({
                "layer": name,
                "params": weight.numel(),
                "per_tensor_db": quantization_error(weight, fake_quantize(weight, bits)[0])["sqnr_db"],
                "per_channel_db": quantization_error(weight, fake_quantize(weight, bits, per_channel=True)[0])["sqnr_db"],
            })
    return rows


def _is_dynamic_quantized_linear(module: nn.Module) -> bool:
    return isinstance(module, torch.ao.nn.quantized.dynamic.Linear)


def quantized_embedding_names(model: nn.Module) -> list[str]:
    """Names of the embeddings stored as 8-bit rows (quantize_dynamic_int8 with embeddings=True)."""
    return [name for name, m in model.named_modules() if isinstance(m, torch.ao.nn.quantized.Embedding)]


def torchao_int8_names(model: nn.Module) -> list[str]:
    """Names of the Linear layers whose weight torchao replaced by an INT8 tensor subclass."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and hasattr(m.weight, "__tensor_flatten__")]


def quantized_linear_names(model: nn.Module) -> list[str]:
    """Names of the modules that dynamic quantization replaced by INT8 Linear layers."""
    return [name for name, m in model.named_modules() if _is_dynamic_quantized_linear(m)]


def module_type_counts(model: nn.Module) -> dict[str, int]:
    """How many modules of each type do the work (leaves; a quantized Linear counts as one): what was swapped."""

    def public_name(cls: type) -> str:  # torch.nn.modules.linear.Linear → torch.nn.Linear
        return f"{cls.__module__.split('.modules')[0]}.{cls.__name__}"

    packed = (torch.ao.nn.quantized.modules.linear.LinearPackedParams,
              torch.ao.nn.quantized.modules.embedding_ops.EmbeddingPackedParams)
    whole = (torch.ao.nn.quantized.dynamic.Linear, torch.ao.nn.quantized.Embedding)
    counts = Counter(
        public_name(type(m))
        for m in model.modules()
        if isinstance(m, whole) or (not list(m.children()) and not isinstance(m, packed))
    )
    return dict(sorted(counts.items()))


# What this torch version says when torch.ao.quantization is used (chapter 3 shows and explains it).
KNOWN_WARNINGS = (
    (r".*torch\.ao\.quantization is deprecated", DeprecationWarning),
    (r".*quantized tensor creation functions", UserWarning),
    (r"TypedStorage is deprecated", UserWarning),
)


@contextmanager
def known_quantization_warnings_silenced():
    """Hide the deprecation notices of torch.ao.quantization (and only those) inside the block."""
    with warnings.catch_warnings():
        for message, category in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


QUANTIZED_WEIGHTS = "quantized_state_dict.pt"
QUANTIZERS = ("torch.ao.quantization.quantize_dynamic", "torchao.quantize_")


def save_quantized(clf: Classifier, directory: str | Path) -> Path:
    """Save an eagerly quantized classifier: config, tokenizer, state_dict, and how it was quantized in
    the folder's manifest (`route.json`, `method`).

    Covers `quantize_dynamic` (Linear layers, and embeddings if they were quantized too) and
    torchao's INT8 tensor subclasses. `save_pretrained` cannot do this: it writes the FP32 skeleton,
    and `from_pretrained` then loads FP32 or random weights for the quantized layers without an error.
    """
    linear, embeddings, torchao = (quantized_linear_names(clf.model), quantized_embedding_names(clf.model),
                                   torchao_int8_names(clf.model))
    if not (linear or torchao):
        raise BookError("This model has no dynamically quantized Linear layers; use save_classifier().")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clf.model.config.save_pretrained(directory)
    clf.tokenizer.save_pretrained(directory)
    with known_quantization_warnings_silenced():  # the old quantized dtypes' notices (chapter 3)
        torch.save(clf.model.state_dict(), directory / QUANTIZED_WEIGHTS)
    save_method(clf, directory, "save_quantized", quantizer=QUANTIZERS[1] if torchao else QUANTIZERS[0],
                dtype="qint8" if linear else "int8", quantized_modules=linear or torchao,
                quantized_embeddings=embeddings, quantized_engine=torch.backends.quantized.engine,
                torch=torch.__version__,
                heads_per_layer=_heads_if_pruned(clf.model))  # a head-pruned model needs them to be rebuilt
    return directory


def _heads_if_pruned(model) -> list[int] | None:
    from ..core.anatomy import ANATOMIES, anatomy, architecture, heads_per_layer

    if architecture(model) not in ANATOMIES:
        return None
    counts = heads_per_layer(model)
    full = getattr(model.config, anatomy(model).config_heads)
    return counts if any(n != full for n in counts) else None


def load_quantized(directory: str | Path) -> Classifier:
    """Load what save_quantized wrote: rebuild the model, quantize it the same way, load the weights."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    directory = Path(directory)
    manifest = read_manifest(directory)
    meta = manifest.get("method", {})
    if meta.get("quantizer") not in QUANTIZERS:
        raise BookError(f"{directory} is not a checkpoint of save_quantized (its manifest names "
                        f"{meta.get('saved_by')!r}); this loader reads {QUANTIZERS}.")
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    check_binary(config, str(directory))
    skeleton = AutoModelForSequenceClassification.from_config(config).eval()
    if meta.get("heads_per_layer"):
        from .pruning import narrow_heads

        narrow_heads(skeleton, meta["heads_per_layer"])
    with known_quantization_warnings_silenced():
        if meta["quantizer"] == QUANTIZERS[1]:
            model = quantize_torchao_int8(skeleton, copy=False)
        else:
            model = quantize_dynamic_int8(skeleton, engine=meta["quantized_engine"], copy=False,
                                          embeddings=bool(meta.get("quantized_embeddings")),
                                          layers=set(meta["quantized_modules"]))  # int8_mixed keeps some FP32
        state = torch.load(directory / QUANTIZED_WEIGHTS, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True, assign=meta["quantizer"] == QUANTIZERS[1])  # torchao: subclasses
    return classifier_from_folder(directory, model.eval(), manifest)
