"""Loading FP32 sentiment classifiers, and saving/loading them (quantized ones included)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .anatomy import model_input_names, model_inputs
from .errors import BookError
from .sources import MODEL_DIR_CONTENTS, Source, hub_failure, hub_is_reachable, resolve_model

QUANTIZED_WEIGHTS = "quantized_state_dict.pt"
QUANTIZED_META = "quantization.json"


@dataclass
class Classifier:
    """A 2-label sequence classifier with its tokenizer; `max_length` is the longest input it accepts."""

    model: nn.Module
    tokenizer: object
    source: str
    max_length: int
    details: dict | None = None  # how a route built it, for the record (e.g. int8_mixed's choice of k)

    @property
    def label_names(self) -> list[str]:
        return [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    @property
    def positive_index(self) -> int:
        return positive_index(self.model.config.id2label)

    @property
    def input_names(self) -> list[str]:
        """The tokenizer's outputs this model takes (see `anatomy.model_input_names`)."""
        return model_input_names(self.model, self.tokenizer)

    def encode(self, sentences, padding: bool | str = True) -> dict:
        """Sentences as the model's input tensors, truncated to `max_length` tokens: every route feeds
        its model through here (evaluation, latency, training, compiling, calibration)."""
        return model_inputs(self.model, self.tokenizer, sentences, padding=padding, truncation=True,
                            max_length=self.max_length)


def positive_index(id2label: dict) -> int:
    """The class whose label names the positive sentiment; labels that do not say (LABEL_0, LABEL_1)
    follow SST-2's convention, 1 = positive."""
    found = [int(i) for i, name in id2label.items() if str(name).lower().startswith("pos")]
    if len(found) > 1:
        raise ValueError(f"More than one positive label in {id2label}.")
    return found[0] if found else 1


def max_input_length(tokenizer, config) -> int:
    """The longest token sequence the model accepts (tokenizer limit and position embeddings)."""
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    if not limits:
        raise BookError("Cannot tell the model's maximum input length from its config or tokenizer.")
    return min(limits)


def check_binary(config, source: str) -> None:
    """Refuse models that are not 2-label classifiers: SST-2 accuracy would be meaningless."""
    if config.num_labels != 2:
        raise BookError(
            f"{source} has {config.num_labels} output labels; SST-2 needs a 2-label "
            "(negative/positive) sequence-classification model."
        )


def load_classifier(source: str | Path | None = None) -> Classifier:
    """Load an FP32 classifier from a local directory, a hub id, or $BOOK_MODEL, in eval mode."""
    resolved = resolve_model(source)
    if resolved.is_local:
        _check_model_dir(Path(resolved.location))
        try:
            return _load(resolved, local_files_only=True)
        except BookError:
            raise
        except Exception as err:
            raise BookError(f"Could not load a classifier from {resolved}: {type(err).__name__}: {err}") from err
    if not hub_is_reachable():
        try:  # a copy in the local cache still works offline
            return _load(resolved, local_files_only=True)
        except BookError:
            raise
        except Exception:
            raise hub_failure("model", resolved, "the hub is unreachable from this machine") from None
    try:
        return _load(resolved, local_files_only=False)
    except BookError:
        raise
    except Exception as err:
        raise hub_failure("model", resolved, f"{type(err).__name__}: {err}") from err


def _check_model_dir(path: Path) -> None:
    names = {p.name for p in path.iterdir()}
    if "config.json" not in names:
        raise BookError(f"{path} is not a model directory: no config.json. It must hold {MODEL_DIR_CONTENTS}.")
    if QUANTIZED_META in names:
        raise BookError(f"{path} holds a quantized model: load it with load_quantized().")
    if not names & {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"}:
        raise BookError(f"{path} has no weights (model.safetensors). It must hold {MODEL_DIR_CONTENTS}.")


def _load(source: Source, local_files_only: bool) -> Classifier:
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    where = str(source)
    config = AutoConfig.from_pretrained(where, local_files_only=local_files_only)
    check_binary(config, where)
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            where, local_files_only=local_files_only, output_loading_info=True
        )
    except ValueError as err:  # an architecture with no sequence-classification head
        raise BookError(f"{where} is not a sequence-classification model transformers supports: {err}") from err
    if info.get("missing_keys"):
        raise BookError(
            f"{where} has no trained weights for {sorted(info['missing_keys'])[:4]}: it is not a fine-tuned "
            "classifier (a bare encoder gets a random classification head). Use a fine-tuned SST-2 model."
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local_files_only)
    except Exception as err:
        raise BookError(f"{where} has no usable tokenizer ({err}). It must hold {MODEL_DIR_CONTENTS}.") from err
    return Classifier(model.eval(), tokenizer, where, max_input_length(tokenizer, config))


def save_classifier(clf: Classifier, directory: str | Path) -> Path:
    """Save an FP32 classifier with save_pretrained (safetensors) plus its tokenizer."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clf.model.save_pretrained(directory)
    clf.tokenizer.save_pretrained(directory)
    return directory


QUANTIZERS = ("torch.ao.quantization.quantize_dynamic", "torchao.quantize_")


def save_quantized(clf: Classifier, directory: str | Path) -> Path:
    """Save an eagerly quantized classifier: config, tokenizer, state_dict and how it was quantized.

    Covers `quantize_dynamic` (Linear layers, and embeddings if they were quantized too) and
    torchao's INT8 tensor subclasses. `save_pretrained` cannot do this: it writes the FP32 skeleton,
    and `from_pretrained` then loads FP32 or random weights for the quantized layers without an error.
    """
    from .quantization import (known_quantization_warnings_silenced, quantized_embedding_names,
                               quantized_linear_names, torchao_int8_names)

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
    meta = {
        "method": QUANTIZERS[1] if torchao else QUANTIZERS[0],
        "dtype": "qint8" if linear else "int8",
        "quantized_modules": linear or torchao,
        "quantized_embeddings": embeddings,
        "quantized_engine": torch.backends.quantized.engine,
        "torch": torch.__version__,
        "max_length": clf.max_length,
        "source": clf.source,
        "heads_per_layer": _heads_if_pruned(clf.model),  # a head-pruned model needs them to be rebuilt
    }
    (directory / QUANTIZED_META).write_text(json.dumps(meta, indent=2))
    return directory


def _heads_if_pruned(model) -> list[int] | None:
    from .anatomy import ANATOMIES, anatomy, architecture, heads_per_layer

    if architecture(model) not in ANATOMIES:
        return None
    counts = heads_per_layer(model)
    full = getattr(model.config, anatomy(model).config_heads)
    return counts if any(n != full for n in counts) else None


def load_quantized(directory: str | Path) -> Classifier:
    """Load what save_quantized wrote: rebuild the model, quantize it the same way, load the weights."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from .quantization import known_quantization_warnings_silenced, quantize_dynamic_int8, quantize_torchao_int8

    directory = Path(directory)
    meta_path = directory / QUANTIZED_META
    if not meta_path.is_file():
        raise BookError(f"{directory} is not a quantized checkpoint: no {QUANTIZED_META} (see save_quantized).")
    meta = json.loads(meta_path.read_text())
    if meta.get("method") not in QUANTIZERS:
        raise BookError(f"{meta_path} names the method {meta.get('method')!r}; this book reads {QUANTIZERS}.")
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    check_binary(config, str(directory))
    skeleton = AutoModelForSequenceClassification.from_config(config).eval()
    if meta.get("heads_per_layer"):
        from .pruning import narrow_heads

        narrow_heads(skeleton, meta["heads_per_layer"])
    with known_quantization_warnings_silenced():
        if meta["method"] == QUANTIZERS[1]:
            model = quantize_torchao_int8(skeleton, copy=False)
        else:
            model = quantize_dynamic_int8(skeleton, engine=meta["quantized_engine"], copy=False,
                                          embeddings=bool(meta.get("quantized_embeddings")),
                                          layers=set(meta["quantized_modules"]))  # int8_mixed keeps some FP32
        state = torch.load(directory / QUANTIZED_WEIGHTS, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True, assign=meta["method"] == QUANTIZERS[1])  # torchao: keep subclasses
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    return Classifier(model.eval(), tokenizer, meta["source"], int(meta["max_length"]))
