"""The classifier type: a model with its tokenizer; loading and saving FP32 sentiment classifiers."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from torch import nn

from .anatomy import model_input_names, model_inputs
from .errors import BookError
from .sources import MODEL_DIR_CONTENTS, Source, hub_failure, hub_is_reachable, resolve_model

MANIFEST = "route.json"  # the one manifest of a saved model: its source, its maximum length, how it was made
# The per-method files that older versions of the book wrote beside their models instead of a manifest.
OLDER_METADATA = ("quantization.json", "pruning.json", "static_quantization.json", "openvino.json", "model.json",
                  "model_quantized.json", "model_optimized.json", "model_optimized_quantized.json")


@dataclass
class Classifier:
    """A 2-label sequence classifier with its tokenizer; `max_length` is the longest input it accepts."""

    model: nn.Module
    tokenizer: object
    source: str
    max_length: int
    details: dict | None = None  # what a method reports about how it made the model (a student's losses)

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

    def with_model(self, model) -> "Classifier":
        """The same classifier (tokenizer, source, maximum length) around another model."""
        return replace(self, model=model, details=None)

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
    method = read_manifest(path).get("method") if MANIFEST in names else None
    if method:
        raise BookError(f"{path} holds a model saved by {method['saved_by']}: load it "
                        "with load_route() (or the loader of that method).")
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


def read_manifest(directory: str | Path) -> dict:
    """The manifest of a saved model (`route.json`); a folder of an older book, with per-method files
    instead, is refused with what to do."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        older = [name for name in OLDER_METADATA if (directory / name).is_file()]
        if older:
            raise BookError(f"{directory} was saved by an older version of the book ({older[0]}, no {MANIFEST}): "
                            "build it again (`make book` rebuilds what the store lacks).")
        raise BookError(f"{directory} holds no saved model: no {MANIFEST}.")
    return json.loads(path.read_text())


def write_manifest(directory: str | Path, **fields) -> dict:
    """Add `fields` to a saved model's manifest (created if missing); returns the whole manifest."""
    path = Path(directory) / MANIFEST
    manifest = {**(json.loads(path.read_text()) if path.is_file() else {}), **fields}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1))
    return manifest


def save_method(clf: Classifier, directory: str | Path, saved_by: str, **facts) -> dict:
    """What a method's saver records of its model in the manifest: the source, the maximum length, and
    `facts` (how it was quantized, the heads each layer kept…) under `method`."""
    return write_manifest(directory, source=clf.source, max_length=clf.max_length,
                          method={"saved_by": saved_by, **facts})


def classifier_from_folder(directory: str | Path, model, manifest: dict | None = None) -> Classifier:
    """A saved model's classifier: `model`, the tokenizer saved beside it, the manifest's source and length."""
    from transformers import AutoTokenizer

    manifest = read_manifest(directory) if manifest is None else manifest
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    return Classifier(model, tokenizer, manifest["source"], int(manifest["max_length"]))


def save_classifier(clf: Classifier, directory: str | Path) -> Path:
    """Save an FP32 classifier with save_pretrained (safetensors) plus its tokenizer."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clf.model.save_pretrained(directory)
    clf.tokenizer.save_pretrained(directory)
    return directory


def uncompiled(model):
    """The model without its `torch.compile` wrapper (the model itself if it is not compiled)."""
    if hasattr(model, "_orig_mod"):
        return model._orig_mod
    return model.without_compile() if hasattr(model, "without_compile") else model
