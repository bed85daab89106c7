"""Is a difference real? Intervals and paired tests on stored predictions, from `scipy.stats`.

Every function takes the true labels and predictions that `results/comparison.json` stores, so
anything here can be recomputed from the record.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..core.errors import BookError


def _right(labels: list[int], predictions: list[int]) -> np.ndarray:
    if len(labels) != len(predictions) or not labels:
        raise BookError(f"Need as many predictions as labels (got {len(predictions)} and {len(labels)}), "
                        "and at least one.")
    return np.asarray(predictions) == np.asarray(labels)


def accuracy_ci95(labels: list[int], predictions: list[int]) -> list[float]:
    """Wilson 95% interval of the accuracy (sentences as independent trials)."""
    right = _right(labels, predictions)
    ci = stats.binomtest(int(right.sum()), len(right)).proportion_ci(0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def paired_bootstrap_ci(a: np.ndarray, b: np.ndarray, statistic, seed: int = 0,
                        n_resamples: int = 10_000) -> list[float]:
    """Percentile 95% interval of `statistic(a, b, axis)`, resampling the pairs (a[i], b[i]) together."""
    boot = stats.bootstrap((np.asarray(a), np.asarray(b)), statistic, paired=True, vectorized=True,
                           n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed))
    return [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]


def paired_comparison(labels: list[int], baseline: list[int], variant: list[int], seed: int = 0,
                      n_resamples: int = 10_000) -> dict:
    """A variant against the baseline on the same sentences.

    `fp32_right_only` / `variant_right_only`: the discordant pairs (exactly one of the two is right);
    `mcnemar_p`: the exact McNemar test on them (a two-sided binomial test, p = 1/2);
    `accuracy_delta_ci95`: a paired bootstrap 95% percentile interval of variant − baseline accuracy,
    resampling sentences with both predictions together.
    """
    base_right, var_right = _right(labels, baseline), _right(labels, variant)
    base_only = int((base_right & ~var_right).sum())
    var_only = int((var_right & ~base_right).sum())
    discordant = base_only + var_only
    p_value = stats.binomtest(var_only, discordant, 0.5).pvalue if discordant else 1.0
    if discordant:
        delta_ci = paired_bootstrap_ci(var_right.astype(float), base_right.astype(float),
                                       lambda v, b, axis: v.mean(axis=axis) - b.mean(axis=axis), seed, n_resamples)
    else:
        delta_ci = [0.0, 0.0]  # identical correctness on every sentence: no resample can differ
    return {
        "flipped": int((np.asarray(baseline) != np.asarray(variant)).sum()),
        "fp32_right_only": base_only,
        "variant_right_only": var_only,
        "mcnemar_p": float(p_value),
        "accuracy_delta_ci95": delta_ci,
    }


def add_statistics(record: dict, baseline: str = "fp32", seed: int = 0) -> dict:
    """Add `accuracy_ci95` to every measured variant and `vs_fp32` to every other one, in place."""
    labels = record["labels"]
    base = record["routes"][baseline]["predictions"]
    for name, entry in record["routes"].items():
        if "predictions" not in entry:
            continue
        entry["accuracy_ci95"] = accuracy_ci95(labels, entry["predictions"])
        if name != baseline:
            entry["vs_fp32"] = paired_comparison(labels, base, entry["predictions"], seed)
    return record
