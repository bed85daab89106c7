"""The headline of a comparison: the routes a first page quotes, timed in turn against each other.

The candidates are FP32 eager, the fastest FP32 routes of the same model and the fastest compressed
routes that keep its accuracy (the recommendation's filter), each ranked by its speedup timed
interleaved with FP32 eager. They then run in one round-robin on the timed sentences
(`measure.round_robin`), and the book ranks and quotes them by it, with paired intervals. One-shot
medians, each route timed alone minutes apart, can rank two routes a few per cent apart either
way on a shared machine; drift falls on every route of one round-robin alike.
"""

from __future__ import annotations

import statistics
from typing import Callable

from ..core.fingerprints import digest, sentences_digest, source_digest
from ..core.models import Classifier
from ..measure.round_robin import round_robin, timed_ratio
from .keys import machine
from .record import BASELINE, measured, runs_the_fp32_model
from .report import recommend
from .store import Store

FP32_CANDIDATES = 2  # besides FP32 eager
COMPRESSED_CANDIDATES = 3
STORE_NAME = "headline"  # its measurements' folder in the store


def _interleaved_speedup(entry: dict) -> float:
    return entry["interleaved"]["speedup"] if "interleaved" in entry else 1.0


def headline_candidates(record: dict, max_drop_pts: float = 0.5, alpha: float = 0.05) -> dict[str, list[str]]:
    """The routes the headline times: `fp32` (FP32 eager first, then the fastest FP32 routes of the same
    model) and `compressed` (the fastest other routes of the same model that `recommend` keeps)."""
    left_out = recommend(record, max_drop_pts, alpha)["left_out"]
    rows = {n: v for n, v in measured(record).items()
            if n != BASELINE and not v.get("changes_model") and n not in left_out}

    def fastest(names: list[str], k: int) -> list[str]:
        return sorted(names, key=lambda n: -_interleaved_speedup(rows[n]))[:k]

    return {"fp32": [BASELINE, *fastest([n for n in rows if runs_the_fp32_model(rows[n])], FP32_CANDIDATES)],
            "compressed": fastest([n for n in rows if not runs_the_fp32_model(rows[n])], COMPRESSED_CANDIDATES)}


def time_headline(record: dict, ready: Callable[[str], Classifier], store: Store, timed: list[str],
                  threads: int) -> dict:
    """The candidates' per-sentence times from one round-robin on `timed`, each sentence run through
    every candidate once first (OpenVINO and compiled routes prepare kernels per new length); from the
    store while the candidates' measurements, the sentences, the threads and the machine are unchanged.
    `ready(name)` gives a route's classifier ready to run (a compiled route compiled)."""
    candidates = headline_candidates(record)
    names = candidates["fp32"] + candidates["compressed"]
    if len(names) < 2:
        return {"skipped": "no route besides FP32 eager keeps the model and its accuracy"}
    key = digest({"routes": {n: record["routes"][n]["provenance"]["key"] for n in names},
                  "timed": sentences_digest(timed), "threads": threads, "machine": machine(),
                  "code": source_digest(["helpers.routes.headline"])})
    found = store.find_measurement(STORE_NAME, key)
    if found is None:
        times = round_robin({n: ready(n) for n in names}, timed, threads, warmup=len(timed))
        found = store.put_measurement(STORE_NAME, key, {
            **candidates, "times_ms": {n: [round(t, 4) for t in ts] for n, ts in times.items()},
            "n_sentences": len(timed), "threads": threads})
    made = found["made"]
    return {**found["value"], "provenance": {"measured": {k: made[k] for k in ("date", "cpu", "commit")},
                                             "key": key}}


def headline_summary(record: dict, seed: int = 0) -> dict:
    """The headline as the book quotes it: the fastest FP32 route by the round-robin, then each
    candidate's median and its speedups against FP32 eager and against that route, with 95% intervals,
    the fastest compressed route and the runner-up (None when none keeps the accuracy), and the lead
    of the one over the other."""
    value = record.get("headline")
    if value is None:
        raise KeyError("This record has no headline: run_comparison(headline=True) times one.")
    if "skipped" in value:
        return {"skipped": value["skipped"], "rows": [], "fastest": None, "best_fp32": BASELINE}
    times = value["times_ms"]
    median = {n: statistics.median(t) for n, t in times.items()}
    best = min(value["fp32"], key=median.get)
    rows = []
    for name in value["fp32"] + value["compressed"]:
        row = {"route": name, "label": record["routes"][name]["label"],
               "precision": record["routes"][name]["precision"], "median_ms": median[name],
               "vs_fp32_eager": timed_ratio(times, BASELINE, name, seed),
               "vs_best_fp32": timed_ratio(times, best, name, seed)}
        rows.append(row)
    compressed = sorted((r for r in rows if r["route"] in value["compressed"]), key=lambda r: r["median_ms"])
    fastest, runner_up = (compressed + [None, None])[:2]
    return {"best_fp32": best, "rows": rows, "fastest": fastest, "runner_up": runner_up,
            # how much faster the fastest ran than the runner-up: a lead whose interval holds 1 is no lead
            "lead": timed_ratio(times, runner_up["route"], fastest["route"], seed) if runner_up else None,
            "n_sentences": value["n_sentences"], "threads": value["threads"]}
