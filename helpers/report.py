"""The comparison record (`results/comparison.json`) and its side-by-side table."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import BookError
from .size import MIB

SCHEMA_VERSION = 1
REQUIRED_VARIANT_KEYS = ("accuracy", "predictions", "size_bytes", "latency_ms")


def write_json(record: dict, path: str | Path) -> Path:
    """Write `record` as indented JSON, creating parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def load_comparison(path: str | Path) -> dict:
    """Read and check a comparison written by `run_comparison`."""
    path = Path(path)
    if not path.is_file():
        raise BookError(f"No comparison at {path}: run `python -m helpers compare` first.")
    record = json.loads(path.read_text())
    for name in ("fp32", "int8_dynamic"):
        variant = record.get("variants", {}).get(name)
        if variant is None or any(k not in variant for k in REQUIRED_VARIANT_KEYS):
            raise BookError(f"{path} is not a comparison record: variant {name!r} is missing or incomplete.")
    return record


def summary(record: dict, baseline: str = "fp32", candidate: str = "int8_dynamic") -> dict:
    """The headline ratios: speedup, size reduction, accuracy change (points) and flipped predictions."""
    base, cand = record["variants"][baseline], record["variants"][candidate]
    flips = sum(a != b for a, b in zip(base["predictions"], cand["predictions"]))
    return {
        "speedup": base["latency_ms"]["median"] / cand["latency_ms"]["median"],
        "size_ratio": base["size_bytes"] / cand["size_bytes"],
        "size_saved_pct": 100 * (1 - cand["size_bytes"] / base["size_bytes"]),
        "accuracy_delta_pts": 100 * (cand["accuracy"] - base["accuracy"]),
        "flipped_predictions": flips,
    }


def comparison_table(record: dict) -> str:
    """A plain-text side-by-side table of the FP32 and INT8 variants."""
    base, cand = record["variants"]["fp32"], record["variants"]["int8_dynamic"]
    s = summary(record)
    lat_b, lat_c = base["latency_ms"], cand["latency_ms"]
    rows = [
        ("", "FP32", "INT8 dynamic", "change"),
        (
            f"accuracy ({record['n_examples']} sentences)",
            f"{100 * base['accuracy']:.2f}%",
            f"{100 * cand['accuracy']:.2f}%",
            f"{s['accuracy_delta_pts']:+.2f} pts, {s['flipped_predictions']} flipped",
        ),
        (
            "size (state_dict)",
            f"{base['size_bytes'] / MIB:.1f} MiB",
            f"{cand['size_bytes'] / MIB:.1f} MiB",
            f"{s['size_ratio']:.2f}x smaller ({s['size_saved_pct']:.0f}% saved)",
        ),
        (
            f"latency, batch 1, median (p90)",
            f"{lat_b['median']:.2f} ({lat_b['p90']:.2f}) ms",
            f"{lat_c['median']:.2f} ({lat_c['p90']:.2f}) ms",
            f"{s['speedup']:.2f}x faster",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    env, ev = record["environment"], record["eval"]
    lines += [
        "",
        f"model: {record['model']}   data: {record['data']}   profile: {record['profile']}",
        f"eval: batch {ev['batch_size']}, padding {ev['padding']}, max_length {ev['max_length']}, "
        f"{ev['n_truncated']} sentences truncated",
        f"latency: {lat_b['inputs']}, median {lat_b['seq_len']} tokens, {lat_b['repeats']} runs after "
        f"{lat_b['warmup']} warm-up, {env['threads']} threads",
        f"cpu: {env['cpu']} [{', '.join(env['cpu_flags'])}]  engine: {env['quantized_engine']}  "
        f"torch {env['torch']}  transformers {env['transformers']}",
    ]
    return "\n".join(lines)
