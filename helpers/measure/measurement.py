"""Measuring one model: the full record of a route (accuracy, predictions, size, latency, operators,
speedup against the baseline timed interleaved) and a brief point for a chapter's scan."""

from __future__ import annotations

import torch

from ..core.models import Classifier
from .evaluation import Evaluation, evaluate
from .latency import fixed_threads, interleaved_speedup, latency_at_shape, latency_on_sentences
from .profiling import top_operators
from .size import model_bytes, parameter_breakdown
from .statistics import accuracy_ci95


def measure_variant(clf: Classifier, data, profile, threads: int, batch_size: int, padding: str,
                    timed_sentences: list[str], progress: bool = True, baseline: Classifier | None = None,
                    seed: int = 0, order: str = "length") -> tuple[dict, Evaluation]:
    """Accuracy, predictions, size and latency of one model variant; with `baseline`, also its speedup
    over the baseline timed interleaved with it, and that speedup's 95% interval.

    The route is timed twice on purpose: alone (`latency`, what a one-shot benchmark reports) and
    interleaved with the baseline (`interleaved`); chapter 4 shows how far the two can disagree."""
    with fixed_threads(threads):
        result = evaluate(clf, data, batch_size, padding, progress, order)
    by_len = [
        latency_at_shape(clf, n, 1, threads, profile.repeats, profile.warmup, profile.shape_budget_s).to_dict()
        for n in profile.seq_lens
        if n <= clf.max_length
    ]
    entry = {
        "accuracy": result.accuracy,
        "predictions": result.predictions,
        # P(positive) per sentence (the label named POSITIVE), for the flipped sentences and the logit drift
        "p_positive": [round(p[clf.positive_index], 6) for p in result.probabilities],
        # log-odds of positive (logit of POSITIVE minus the other's): how far each decision moved
        "positive_margin": [round(s[clf.positive_index] - s[1 - clf.positive_index], 5) for s in result.logits],
        "eval_seconds": round(result.seconds, 3),
        "size_bytes": model_bytes(clf.model),
        "parameters": parameter_breakdown(clf.model),
        "latency": latency_on_sentences(clf, timed_sentences, threads, profile.warmup).to_dict(),
        "latency_by_seq_len": by_len,
        "operators": (top_operators(clf, min(128, clf.max_length), threads)
                          if isinstance(clf.model, torch.nn.Module) else None),
    }
    if baseline is not None and baseline is not clf:
        entry["interleaved"] = interleaved_speedup(baseline, clf, timed_sentences, threads, profile.warmup, seed)
        entry["speedup_ci95"] = entry["interleaved"]["speedup_ci95"]
    return entry, result


def measure_briefly(clf: Classifier, examples, timed_sentences: list[str], threads: int,
                    batch_size: int = 32) -> dict:
    """Accuracy (with its 95% interval), size and median batch-1 latency: one point of a chapter's scan."""
    with fixed_threads(threads):
        result = evaluate(clf, examples, batch_size, progress=False)
    return {"accuracy": result.accuracy, "accuracy_ci95": accuracy_ci95(examples.labels, result.predictions),
            "size_bytes": model_bytes(clf.model),
            "latency_ms": latency_on_sentences(clf, timed_sentences, threads).median}
