"""The comparison record (`results/comparison.json`), its per-route summaries and side-by-side table."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import BookError
from ..core.sources import display_name
from ..measure.size import MIB
from .record import BASELINE, load_record, measured, write_json  # noqa: F401 (write_json: re-exported)

COMPARED_FIELDS = ("p_positive", "positive_margin", "parameters", "provenance")  # what a comparison adds


def load_comparison(path: str | Path) -> dict:
    """Read and check a comparison written by `run_comparison` (see `record.check_record`); its measured
    routes carry the per-sentence fields that the chapters read."""
    if not Path(path).is_file():
        raise BookError(f"No comparison at {path}: run `python -m helpers compare` first.")
    record = load_record(path, "comparison")
    for name, entry in measured(record).items():
        if any(k not in entry for k in COMPARED_FIELDS):
            raise BookError(f"{path} is not a comparison record: route {name!r} is incomplete.")
    return record


def measurement_keys(record: dict) -> dict[str, str]:
    """The store key of each route's measurement in a record (skipped routes have none)."""
    return {name: v["provenance"]["key"] for name, v in record["routes"].items() if "provenance" in v}


def best_fp32(record: dict) -> str:
    """The fastest route of the record (median batch-1 latency) that runs the FP32 model itself."""
    return record["best_fp32"]


def summary(record: dict, candidate: str = "int8_dynamic") -> dict:
    """One route against FP32 eager (and against the fastest FP32 route): speedups, size, accuracy, flips."""
    routes = record["routes"]
    if candidate not in routes:
        raise BookError(f"The record has no route {candidate!r}; it has {list(routes)}.")
    base, cand = routes[BASELINE], routes[candidate]
    if "skipped" in cand:
        raise BookError(f"{candidate} was skipped on this machine: {cand['skipped']}")
    fastest = best_fp32(record)
    flips = sum(a != b for a, b in zip(base["predictions"], cand["predictions"]))
    return {
        "speedup": cand["speedup"],
        "best_fp32": fastest,
        "speedup_vs_best_fp32": cand["speedup_vs_best_fp32"],
        "size_ratio": base["size_bytes"] / cand["size_bytes"],
        "size_pct": 100 * cand["size_bytes"] / base["size_bytes"],
        "size_saved_pct": 100 * (1 - cand["size_bytes"] / base["size_bytes"]),
        "accuracy_delta_pts": 100 * (cand["accuracy"] - base["accuracy"]),
        "flipped_predictions": flips,
        "setup_seconds": cand["setup_seconds"],
    }


def route_result(record: dict, name: str) -> str:
    """One sentence with a route's measured accuracy and latency against FP32, or why this machine
    skipped it: what a chapter glues where a route may be missing (no C++ compiler, not x86…)."""
    routes = record["routes"]
    route = routes[name]
    if "skipped" in route:
        return (f"This machine skipped {route['label']} ({name}): {route['skipped']}. "
                "The build records no accuracy or timing for it here.")
    s, fp32 = summary(record, name), routes[BASELINE]
    return (f"{route['label']} reaches {100 * route['accuracy']:.2f}% ({s['accuracy_delta_pts']:+.2f} points "
            f"against FP32's {100 * fp32['accuracy']:.2f}%) and answers in {route['latency']['median']:.2f} ms: "
            f"{s['speedup']:.2f}× FP32 eager, {s['speedup_vs_best_fp32']:.2f}× the fastest FP32 route "
            f"({routes[s['best_fp32']]['label']}). Its setup took {route['setup_seconds']:.0f} s.")


def summaries(record: dict) -> list[dict]:
    """One row per variant (skipped ones with their reason): the data behind every table and chart."""
    rows = []
    for name, v in record["routes"].items():
        row = {"name": name, "label": v["label"], "precision": v["precision"], "method": v["method"]}
        if "skipped" in v:
            rows.append({**row, "skipped": v["skipped"]})
            continue
        rows.append({**row, "accuracy": v["accuracy"], "size_bytes": v["size_bytes"],
                     "latency_ms": v["latency"]["median"], "latency_p90_ms": v["latency"]["p90"],
                     **summary(record, name)})
    return rows


def comparison_table(record: dict) -> str:
    """A plain-text table: one row per route, speedups against FP32 eager and the fastest FP32 route."""
    fastest = best_fp32(record)
    header = ("variant", "accuracy", "vs FP32", "size", "of FP32", "median (p90) ms", "speedup",
              f"vs {fastest}", "setup s")
    rows = [header]
    for r in summaries(record):
        if "skipped" in r:
            rows.append((r["name"], "skipped:", r["skipped"], "", "", "", "", "", ""))
            continue
        rows.append((
            r["name"], f"{100 * r['accuracy']:.2f}%",
            f"{r['accuracy_delta_pts']:+.2f} pts, {r['flipped_predictions']} flipped",
            f"{r['size_bytes'] / MIB:.1f} MiB", f"{r['size_pct']:.0f}%",
            f"{r['latency_ms']:.2f} ({r['latency_p90_ms']:.2f})", f"{r['speedup']:.2f}x",
            f"{r['speedup_vs_best_fp32']:.2f}x", f"{r['setup_seconds']:.1f}",
        ))
    widths = [max(len(row[i]) for row in rows if row[1] != "skipped:") for i in range(len(header))]
    lines = []
    for row in rows:
        if row[1] == "skipped:":
            lines.append(f"{row[0].ljust(widths[0])}  skipped: {row[2]}")
        else:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    env, ev = record["environment"], record["eval"]
    lat = record["routes"][BASELINE]["latency"]
    lines += [
        "",
        f"speedup: FP32 eager median / variant median; vs {fastest}: the fastest FP32 route of this run",
        f"model: {display_name(record['model'])}   data: {display_name(record['data'])}   "
        f"profile: {record['profile']}",
        f"eval: {record['n_examples']} sentences, batch {ev['batch_size']}, padding {ev['padding']}, "
        f"grouped {'by length' if ev['order'] == 'length' else 'in data order'}, "
        f"max_length {ev['max_length']}, {ev['n_truncated']} sentences truncated",
        f"latency: {lat['inputs']}, batch 1, median {lat['seq_len']} tokens, {lat['repeats']} runs after "
        f"{lat['warmup']} warm-up, {env['threads']} threads",
        f"calibration: {record['calibration']['n_sentences']} sentences from the {record['calibration']['split']} split",
        f"cpu: {env['cpu']} [{', '.join(env['cpu_flags'])}]  engine: {env['quantized_engine']}  "
        f"torch {env['torch']}  transformers {env['transformers']}  onnxruntime {env.get('onnxruntime')}",
    ]
    return "\n".join(lines)


def route_table(record: dict) -> list[dict]:
    """The closing chapter's table: one row per route (skipped ones say why), every number from the record."""
    rows = []
    for r in summaries(record):
        v = record["routes"][r["name"]]
        row = {"route": r["name"], "label": r["label"], "needs calibration": v["needs_calibration"],
               "deploys": v["deploys"], "API": v["api"]}
        if "skipped" in r:
            rows.append({**row, "skipped": r["skipped"]})
            continue
        rows.append({**row, "size % of FP32": r["size_pct"], "speedup vs FP32 eager": r["speedup"],
                     "speedup vs best FP32": r["speedup_vs_best_fp32"],
                     "accuracy change (pts)": r["accuracy_delta_pts"], "setup s": r["setup_seconds"]})
    return rows


def recommend(record: dict, max_drop_pts: float = 0.5, alpha: float = 0.05) -> dict:
    """Accuracy first, then speed and size, like with like.

    A route qualifies when its accuracy is within `max_drop_pts` of FP32 eager *and* the exact McNemar
    test finds no significant change (p ≥ `alpha`). Among the qualifying routes that compute the same
    model (quantized, compiled, exported), the fastest and the smallest; the routes that make a different
    model (pruned, distilled) are ranked apart, and every route left out says why."""
    same, other, left_out = [], [], {}
    for r in summaries(record):
        if r["name"] == BASELINE:
            continue
        v = record["routes"][r["name"]]
        if "skipped" in r:
            left_out[r["name"]] = f"skipped: {r['skipped']}"
            continue
        p = v.get("vs_fp32", {}).get("mcnemar_p", 1.0)
        if r["accuracy_delta_pts"] < -max_drop_pts:
            left_out[r["name"]] = f"{r['accuracy_delta_pts']:+.2f} points, beyond −{max_drop_pts:g}"
        elif p < alpha:
            left_out[r["name"]] = f"McNemar p = {p:.3f} < {alpha:g}: its predictions changed significantly"
        else:
            (other if v.get("changes_model") else same).append(r)

    def best(rows: list[dict]) -> dict | None:
        if not rows:
            return None
        fastest = min(rows, key=lambda r: r["latency_ms"])
        smallest = min(rows, key=lambda r: (r["size_bytes"], r["latency_ms"]))
        return {"fastest": fastest["name"], "fastest_speedup": fastest["speedup"],
                "fastest_vs_best_fp32": fastest["speedup_vs_best_fp32"],
                "fastest_delta_pts": fastest["accuracy_delta_pts"],
                "smallest": smallest["name"], "smallest_size_pct": smallest["size_pct"],
                "smallest_delta_pts": smallest["accuracy_delta_pts"]}

    return {"max_drop_pts": max_drop_pts, "alpha": alpha, "best_fp32": best_fp32(record),
            "same_model": best(same), "other_model": best(other), "left_out": left_out}


def statistics_rows(record: dict) -> list[dict]:
    """One row per measured route: accuracy with its 95% interval; against FP32, the change (points) with
    its interval, the exact McNemar p, the flips, and the speedup timed interleaved with FP32 (with its
    interval) beside the one-shot `speedup` of `latency` (each route timed alone, minutes apart)."""
    base = record["routes"][BASELINE]
    rows = []
    for name, v in measured(record).items():
        row = {"route": name, "label": v["label"], "accuracy": v["accuracy"], "accuracy_ci95": v["accuracy_ci95"]}
        if name != BASELINE:
            vs = v["vs_fp32"]
            row.update(delta_pts=100 * (v["accuracy"] - base["accuracy"]),
                       delta_ci95_pts=[100 * x for x in vs["accuracy_delta_ci95"]], mcnemar_p=vs["mcnemar_p"],
                       flipped=vs["flipped"], one_shot_speedup=v["speedup"])
            if "interleaved" in v:
                row.update(speedup=v["interleaved"]["speedup"], speedup_ci95=v["interleaved"]["speedup_ci95"],
                           fp32_interleaved_ms=v["interleaved"]["baseline_median_ms"])
        rows.append(row)
    return rows


def _same_examples(record: dict, examples) -> None:
    if list(examples.labels) != record["labels"]:
        raise BookError("These sentences are not the ones the record measured (their labels differ): "
                        "use the chapter's `examples()` with the record's profile and seed.")


def flipped_sentences(record: dict, examples, route: str) -> list[dict]:
    """The sentences whose prediction `route` changed from FP32's: text, true label and both P(positive).

    `examples`: the sentences the record measured, in its order (`Chapter.examples()`)."""
    _same_examples(record, examples)
    base, other = record["routes"][BASELINE], record["routes"][route]
    return [{"sentence": examples.sentences[i], "label": examples.label_names[examples.labels[i]],
             "P(positive) FP32": base["p_positive"][i], f"P(positive) {other['label']}": other["p_positive"][i],
             "right": "FP32" if base["predictions"][i] == examples.labels[i] else other["label"]}
            for i, (a, b) in enumerate(zip(base["predictions"], other["predictions"])) if a != b]


def margin_shifts(record: dict) -> dict[str, list[float]]:
    """For each measured non-FP32 route, how far it moved each sentence's log-odds of positive from FP32's
    (route − FP32; a flip needs the shift to cross FP32's own margin)."""
    base = record["routes"][BASELINE]["positive_margin"]
    return {name: [m - b for m, b in zip(v["positive_margin"], base)]
            for name, v in measured(record).items() if name != BASELINE}


def against_fp32(record: dict, names: list[str]) -> list[dict]:
    """The chosen routes against FP32 eager, one row each: accuracy change with its paired 95% interval and
    McNemar p, size as % of FP32, and the interleaved speedup."""
    stats = {r["route"]: r for r in statistics_rows(record)}
    base = record["routes"][BASELINE]["size_bytes"]
    return [{"route": stats[n]["label"], "accuracy change (pts)": stats[n]["delta_pts"],
             "95% CI": "[{:+.2f}, {:+.2f}]".format(*stats[n]["delta_ci95_pts"]),
             "McNemar p": stats[n]["mcnemar_p"],
             "size % of FP32": 100 * record["routes"][n]["size_bytes"] / base,
             "speedup": stats[n]["speedup"]} for n in names]
