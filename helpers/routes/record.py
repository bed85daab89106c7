"""One shape for every record of routes: the comparison, the DistilBERT shape and the machine records.

A record is JSON: `schema_version`, its `kind`, when and where it was measured, `best_fp32` and
`routes`, one entry per route in the shape of `RouteResult`. A measured route carries every field
of `MEASURED_FIELDS`, or names it in `absent` with the reason it does not apply; a skipped route
carries only who it is and why it was skipped. Speedups are computed once, by `with_speedups`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..core.errors import BookError

SCHEMA_VERSION = 7  # 7: one shape for every record: `routes`, `latency` objects, `absent`, `with_speedups`
KINDS = ("comparison", "shape", "machine")
BASELINE = "fp32"
IDENTITY_FIELDS = ("label", "precision", "method", "config")
MEASURED_FIELDS = ("accuracy", "predictions", "size_bytes", "latency", "speedup", "speedup_vs_best_fp32",
                   "setup_seconds")
LATENCY_FIELDS = ("median", "p10", "p90", "repeats", "threads")


@dataclass
class RouteResult:
    """One route of a record: who it is, then what was measured, or why it was skipped.

    `speedup` is FP32 eager's median batch-1 latency over this route's, `speedup_vs_best_fp32` the
    same against the record's fastest route that runs the FP32 model itself. `absent` maps a field of
    `MEASURED_FIELDS` that does not apply to the reason; `extra` holds what only some kinds record
    (statistics, provenance, operators…)."""

    label: str
    precision: str
    method: str
    config: dict
    skipped: str | None = None
    accuracy: float | None = None
    predictions: list[int] | None = None
    size_bytes: int | None = None
    latency: dict | None = None
    speedup: float | None = None
    speedup_vs_best_fp32: float | None = None
    setup_seconds: float | None = None
    absent: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, entry: dict, where: str = "a route") -> "RouteResult":
        """Read a route's JSON entry, refusing one that misses a field without saying why."""
        missing = [k for k in IDENTITY_FIELDS if k not in entry]
        if missing:
            raise BookError(f"{where} lacks {', '.join(missing)}: it is not a route of this book's records.")
        known = {f.name for f in fields(cls)} - {"extra"}
        result = cls(**{k: v for k, v in entry.items() if k in known},
                     extra={k: v for k, v in entry.items() if k not in known})
        if result.skipped is None:
            unexplained = [k for k in MEASURED_FIELDS if getattr(result, k) is None and k not in result.absent]
            if unexplained:
                raise BookError(f"{where} was measured but has no {', '.join(unexplained)}, and its `absent` "
                                "does not say why.")
            if result.latency is not None and any(k not in result.latency for k in LATENCY_FIELDS):
                raise BookError(f"{where}: its latency needs {', '.join(LATENCY_FIELDS)}.")
        return result

    def to_dict(self) -> dict:
        """The JSON entry: identity, then the measured fields present (or the skip), `absent`, `extra`."""
        entry = {k: getattr(self, k) for k in IDENTITY_FIELDS}
        if self.skipped is not None:
            return {**entry, "skipped": self.skipped, **self.extra}
        entry |= {k: getattr(self, k) for k in MEASURED_FIELDS if getattr(self, k) is not None}
        return {**entry, **({"absent": self.absent} if self.absent else {}), **self.extra}


def runs_the_fp32_model(entry: dict) -> bool:
    """Whether a route computes the FP32 model itself (eager, compiled, ONNX): a fair FP32 baseline.
    A pruned or distilled model is a different model, not a faster FP32."""
    return entry.get("precision", "fp32") == "fp32" and not entry.get("changes_model")


def with_speedups(routes: dict[str, dict]) -> str | None:
    """Give every timed route its `speedup` against FP32 eager and `speedup_vs_best_fp32`, in place;
    return the fastest timed route that runs the FP32 model itself. The one place speedups are made.
    A record that timed nothing (answers only, as under emulation) has none: None."""
    timed = {n: e for n, e in routes.items() if "skipped" not in e and e.get("latency")}
    if not timed and all("latency" in e.get("absent", {}) for e in routes.values() if "skipped" not in e):
        return None
    if BASELINE not in timed:
        raise BookError(f"No speedup without FP32 eager ({BASELINE!r}) timed; the record has {list(routes)}.")
    best = min((n for n, e in timed.items() if runs_the_fp32_model(e)), key=lambda n: timed[n]["latency"]["median"])
    eager, fastest = timed[BASELINE]["latency"]["median"], timed[best]["latency"]["median"]
    for entry in timed.values():
        entry["speedup"] = eager / entry["latency"]["median"]
        entry["speedup_vs_best_fp32"] = fastest / entry["latency"]["median"]
    return best


def make_record(kind: str, routes: dict[str, dict], **fields_) -> dict:
    """A record of `kind`: its routes checked against `RouteResult`, speedups filled, `best_fp32` named."""
    if kind not in KINDS:
        raise BookError(f"No record kind {kind!r}: one of {', '.join(KINDS)}.")
    best = with_speedups(routes)
    checked = {name: RouteResult.from_dict(entry, f"route {name!r}").to_dict() for name, entry in routes.items()}
    return {"schema_version": SCHEMA_VERSION, "kind": kind, **fields_, "best_fp32": best, "routes": checked}


def check_record(record: dict, where: str, kind: str | None = None) -> dict:
    """Refuse a record of another schema or kind, or with a route that does not fit `RouteResult`."""
    version = record.get("schema_version", record.get("schema"))
    if version != SCHEMA_VERSION:
        raise BookError(f"{where} has schema version {version}, not {SCHEMA_VERSION}: it was written by an older "
                        "book; write it again (`python -m helpers compare`, `build-book` or `bench`).")
    if kind is not None and record.get("kind") != kind:
        raise BookError(f"{where} is a {record.get('kind')!r} record, not a {kind!r} one.")
    routes = record.get("routes")
    if not isinstance(routes, dict) or BASELINE not in routes:
        raise BookError(f"{where} is not a record of routes: FP32 eager ({BASELINE!r}) is missing.")
    if "skipped" in routes[BASELINE] and any(e.get("latency") for e in routes.values()):
        raise BookError(f"{where} times routes without FP32 eager ({BASELINE!r}): its speedups have no base.")
    for name, entry in routes.items():
        RouteResult.from_dict(entry, f"{where}, route {name!r}")
    return record


def read_json(path: str | Path, what: str) -> dict:
    """A JSON file's object, or a clear error: missing, or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise BookError(f"No {what} at {path}.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise BookError(f"{path} is not JSON ({error}).") from None


def load_record(path: str | Path, kind: str) -> dict:
    """Read and check a record of `kind` (see `check_record`)."""
    return check_record(read_json(path, f"{kind} record"), str(path), kind)


def measured(record: dict) -> dict[str, dict]:
    """The routes that ran (skipped ones left out), in record order."""
    return {n: v for n, v in record["routes"].items() if "skipped" not in v}


def write_json(record: dict, path: str | Path) -> Path:
    """Write `record` as indented JSON, creating parent directories; a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(path)
    return path
