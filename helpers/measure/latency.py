"""Latency measured like an engineer: fixed threads, warm-up, many repeats, median and spread."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

from ..core.errors import BookError
from ..core.models import Classifier


@dataclass
class Latency:
    """Summary of repeated timings in milliseconds."""

    median: float
    p10: float
    p90: float
    iqr: float
    batch_size: int
    seq_len: int  # tokens per input (the median token count for real sentences)
    repeats: int
    warmup: int
    threads: int
    inputs: str  # "validation sentences" or "synthetic tokens"

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated q-th percentile (0–100)."""
    if not values:
        raise BookError("No timings to summarise.")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def check_threads(threads: int) -> None:
    """Refuse a thread count below 1."""
    if threads < 1:
        raise BookError(f"threads must be at least 1, got {threads}.")


@contextmanager
def fixed_threads(threads: int):
    """Run the block with exactly `threads` intra-op threads, restoring the previous setting."""
    check_threads(threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _summarise(times_s: list[float], **meta) -> Latency:
    ms = [t * 1000 for t in times_s]
    return Latency(
        median=statistics.median(ms),
        p10=percentile(ms, 10),
        p90=percentile(ms, 90),
        iqr=percentile(ms, 75) - percentile(ms, 25),
        repeats=len(ms),
        **meta,
    )


def _time_forward(model, batch: dict, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(**batch)
        times.append(time.perf_counter() - start)
    return times


def encode_one_by_one(clf: Classifier, sentences: list[str]) -> list[dict]:
    """Each sentence as its own batch-1 input (truncated to the model's maximum), as a service sees them."""
    if not sentences:
        raise BookError("No sentences to time.")
    return [clf.encode(s) for s in sentences]


MIN_TIMED_SENTENCES = 20  # a time budget never cuts a sentence timing below this many sentences


def latency_on_sentences(clf: Classifier, sentences: list[str], threads: int, warmup: int = 5,
                         budget_s: float | None = None) -> Latency:
    """Batch-1 latency over real sentences, each timed once after `warmup` untimed runs (the route alone:
    a one-shot measurement, which drift on a shared machine can bias; see `interleaved_speedup`).

    With `budget_s`, timing stops once that many seconds are spent and at least MIN_TIMED_SENTENCES
    sentences are timed: a slow route is timed on the first sentences only (`repeats` says how many)."""
    encoded = encode_one_by_one(clf, sentences)
    times = []
    with fixed_threads(threads), torch.inference_mode():
        for batch in encoded[:warmup]:
            clf.model(**batch)
        for batch in encoded:
            times += _time_forward(clf.model, batch, 1)
            if budget_s is not None and len(times) >= MIN_TIMED_SENTENCES and sum(times) > budget_s:
                break
    lengths = [int(b["input_ids"].shape[1]) for b in encoded[:len(times)]]
    return _summarise(
        times, batch_size=1, seq_len=int(statistics.median(lengths)), warmup=warmup, threads=threads,
        inputs="validation sentences",
    )


def synthetic_batch(clf: Classifier, batch_size: int, seq_len: int) -> dict:
    """A batch of `batch_size` copies of one real-word input of exactly `seq_len` tokens, no padding.

    It holds every input the model takes (`Classifier.input_names`).
    """
    if not 2 <= seq_len <= clf.max_length:
        raise BookError(f"seq_len must be between 2 and the model's maximum {clf.max_length}, got {seq_len}.")
    text = " ".join(["the film is a quiet , moving and funny story ."] * seq_len)
    encoded = clf.tokenizer(text, truncation=True, max_length=seq_len)
    if len(encoded["input_ids"]) != seq_len:
        raise BookError(f"Could not build a {seq_len}-token input with this tokenizer.")
    return {name: torch.tensor([list(encoded[name])] * batch_size) for name in clf.input_names}


MIN_REPEATS = 5  # a time budget never cuts a measurement below this many timed runs


def runs_within(budget_s: float | None, first_s: float, runs: int, at_least: int) -> int:
    """How many runs of `first_s` seconds fit in `budget_s` (no budget: `runs`), between `at_least` and `runs`."""
    if budget_s is None:
        return runs
    return max(min(at_least, runs), min(runs, int(budget_s / max(first_s, 1e-9))))


def latency_at_shape(
    clf: Classifier, seq_len: int, batch_size: int = 1, threads: int = 1, repeats: int = 30, warmup: int = 5,
    budget_s: float | None = None,
) -> Latency:
    """Latency of one forward pass on a fixed (batch_size, seq_len) input.

    With `budget_s`, a slow shape gets fewer warm-up and timed runs (never under MIN_REPEATS timed
    runs) so that it takes about `budget_s` seconds; the runs actually made are recorded.
    """
    batch = synthetic_batch(clf, batch_size, seq_len)
    with fixed_threads(threads), torch.inference_mode():
        first = _time_forward(clf.model, batch, 1)[0]  # the first warm-up run, also the cost estimate
        warmup = max(1, runs_within(budget_s and budget_s / 4, first, warmup, 1))
        _time_forward(clf.model, batch, warmup - 1)
        repeats = runs_within(budget_s, first, repeats, MIN_REPEATS)
        times = _time_forward(clf.model, batch, repeats)
    return _summarise(
        times, batch_size=batch_size, seq_len=seq_len, warmup=warmup, threads=threads, inputs="synthetic tokens"
    )


def _ratio_of_medians(baseline, variant, axis):
    import numpy as np

    return np.median(baseline, axis=axis) / np.median(variant, axis=axis)


def interleaved_speedup(baseline: Classifier, variant: Classifier, sentences: list[str], threads: int,
                        warmup: int = 5, seed: int = 0, n_resamples: int = 10_000) -> dict:
    """Baseline and variant timed alternately, sentence by sentence (who goes first alternates too),
    so that drift on a shared machine hits both; the median speedup with a paired bootstrap 95% interval.

    Both classifiers must take the same tokenizer's inputs (every route of one model does).
    """
    import numpy as np

    from .statistics import paired_bootstrap_ci

    encoded = encode_one_by_one(baseline, sentences)
    pair = (baseline.model, variant.model)
    base_s, var_s = [], []
    with fixed_threads(threads), torch.inference_mode():
        for batch in encoded[:warmup]:
            for model in pair:
                model(**batch)
        for i, batch in enumerate(encoded):
            order = (0, 1) if i % 2 == 0 else (1, 0)
            times = {k: _time_forward(pair[k], batch, 1)[0] for k in order}
            base_s.append(times[0])
            var_s.append(times[1])
    base, var = np.asarray(base_s) * 1000, np.asarray(var_s) * 1000
    return {"speedup": float(np.median(base) / np.median(var)),
            "speedup_ci95": paired_bootstrap_ci(base, var, _ratio_of_medians, seed, n_resamples),
            "baseline_median_ms": float(np.median(base)), "variant_median_ms": float(np.median(var)),
            "n_sentences": len(encoded), "warmup": warmup, "threads": threads}
