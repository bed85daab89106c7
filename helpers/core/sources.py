"""Where the model and the data come from: explicit argument, environment variable, or the hub."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .errors import BookError

MODEL_ENV = "BOOK_MODEL"
DATA_ENV = "BOOK_DATA"
DEFAULT_MODEL = "distilbert-base-uncased-finetuned-sst-2-english"
DEFAULT_DATA = "nyu-mll/glue"  # GLUE on the Hugging Face Hub; the book uses its `sst2` config

MODEL_DIR_CONTENTS = (
    "config.json, the weights (model.safetensors) and the tokenizer files "
    "(tokenizer.json or vocab.txt, tokenizer_config.json) of a 2-label "
    "sequence-classification model, as written by save_pretrained()"
)
DATA_DIR_CONTENTS = (
    "train.parquet and validation.parquet with the Hugging Face GLUE SST-2 schema "
    "(columns `sentence` and `label` in {0, 1}; `idx` optional)"
)


@dataclass(frozen=True)
class Source:
    """A resolved model or data location: a local directory or a hub id."""

    location: str
    is_local: bool
    origin: str  # "argument", "environment variable BOOK_…" or "default"

    def __str__(self) -> str:
        return self.location


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or Path(value).expanduser().exists()


def _resolve(explicit: str | os.PathLike | None, env: str, default: str, what: str) -> Source:
    if explicit is not None and str(explicit).strip():
        value, origin = str(explicit), "argument"
    elif os.environ.get(env, "").strip():
        value, origin = os.environ[env].strip(), f"environment variable {env}"
    else:
        value, origin = default, "default"
    if not _looks_like_path(value):
        return Source(value, is_local=False, origin=origin)
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise BookError(f"{what} directory not found: {path} (from {origin}).")
    return Source(str(path), is_local=True, origin=origin)


def resolve_model(explicit: str | os.PathLike | None = None) -> Source:
    """The model to use: `explicit`, else $BOOK_MODEL, else the hub's DistilBERT SST-2."""
    return _resolve(explicit, MODEL_ENV, DEFAULT_MODEL, "Model")


def resolve_data(explicit: str | os.PathLike | None = None) -> Source:
    """The SST-2 data to use: `explicit`, else $BOOK_DATA, else GLUE on the hub."""
    return _resolve(explicit, DATA_ENV, DEFAULT_DATA, "Data")


def hub_is_reachable(timeout: float = 3.0) -> bool:
    """True if the Hugging Face Hub answers a TCP connection quickly (False when offline mode is on)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_failure(kind: str, source: Source, cause: BaseException | str) -> BookError:
    """The error raised when a hub model or dataset cannot be loaded, saying how to go offline."""
    env, contents, shared = (
        (MODEL_ENV, MODEL_DIR_CONTENTS, "../shared/models/minilm-l6-sst2")
        if kind == "model"
        else (DATA_ENV, DATA_DIR_CONTENTS, "../shared/data/sst2")
    )
    return BookError(
        f"Could not load the {kind} '{source}' from the Hugging Face Hub ({cause}).\n"
        f"Without hub access, point the book at a local copy: set {env}=/path/to/dir "
        f"(or pass --{kind} / the `{kind}` parameter). The directory must hold {contents}. "
        f"Example: export {env}={shared}"
    )


def display_name(source: str | Path) -> str:
    """A model or data source as a page names it: a hub id as it is, a local folder by its own name
    (never a path of the machine that built the page)."""
    path = Path(str(source))
    return path.name if path.is_absolute() or path.exists() else str(source)


def shown_path(path: str | Path, roots: tuple[Path, ...]) -> str:
    """A path of this machine as a published page may show it: relative to the first of `roots` that
    holds it (the folder beside `results/`, the repository), else only its last part."""
    path = Path(path)
    for root in roots:
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return f"…/{path.name}"
