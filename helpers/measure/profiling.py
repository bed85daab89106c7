"""Where the time goes: `torch.profiler`'s operator table for one forward pass of a PyTorch route."""

from __future__ import annotations

import os

import torch

# Kineto, the profiler's backend, prints "profiler_start"/"profiler_stop" lines on every run; a chapter
# would show them as stderr. Level 9 is above all of its levels; an explicit setting is respected.
os.environ.setdefault("KINETO_LOG_LEVEL", "9")

from ..core.errors import BookError
from ..core.models import Classifier
from .latency import fixed_threads, synthetic_batch


def top_operators(clf: Classifier, seq_len: int = 128, threads: int = 1, runs: int = 5, top: int = 8) -> dict:
    """The `top` operators by self CPU time over `runs` batch-1 passes of `seq_len` tokens (after one warm-up).

    Returns seq_len, operator calls and profiled ms per pass, and rows `top`: operator, calls per pass,
    self CPU ms per pass, share of the profiled time (%). The profiler adds overhead per call, so the
    milliseconds are for comparing operators, not for quoting as latency.
    """
    if not isinstance(clf.model, torch.nn.Module):
        raise BookError(f"torch.profiler sees PyTorch operators only; {type(clf.model).__name__} is not a module.")
    batch = synthetic_batch(clf, 1, seq_len)
    with fixed_threads(threads), torch.inference_mode():
        clf.model(**batch)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                clf.model(**batch)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [{"operator": e.key, "calls": e.count / runs, "self_ms": e.self_cpu_time_total / 1000 / runs,
             "share_pct": 100 * e.self_cpu_time_total / total} for e in events[:top]]
    return {"seq_len": seq_len, "calls_per_pass": sum(e.count for e in events) / runs,
            "ms_per_pass": total / 1000 / runs, "top": rows}
