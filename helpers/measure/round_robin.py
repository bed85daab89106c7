"""Several routes timed in turn on the same sentences, so that a ratio between any two of them comes
with a paired interval: the drift of a shared machine falls on all of them alike."""

from __future__ import annotations

import numpy as np
import torch

from ..core.errors import BookError
from ..core.models import Classifier
from .latency import _ratio_of_medians, _time_forward, encode_one_by_one, fixed_threads
from .statistics import paired_bootstrap_ci


def round_robin(classifiers: dict[str, Classifier], sentences: list[str], threads: int,
                warmup: int = 5) -> dict[str, list[float]]:
    """Each sentence through every classifier once, at batch 1; who goes first rotates with each
    sentence. Returns each classifier's per-sentence times in milliseconds, in sentence order.

    All of them must take the same tokenizer's inputs (every route of one model does)."""
    if len(classifiers) < 2 or not sentences:
        raise BookError("Round-robin timing needs at least two classifiers and one sentence.")
    names = list(classifiers)
    encoded = encode_one_by_one(classifiers[names[0]], sentences)
    times: dict[str, list[float]] = {name: [] for name in names}
    with fixed_threads(threads), torch.inference_mode():
        for batch in encoded[:warmup]:
            for name in names:
                classifiers[name].model(**batch)
        for i, batch in enumerate(encoded):
            turn = i % len(names)
            for name in names[turn:] + names[:turn]:
                times[name].append(1000 * _time_forward(classifiers[name].model, batch, 1)[0])
    return times


def timed_ratio(times: dict[str, list[float]], slower: str, faster: str, seed: int = 0,
                n_resamples: int = 10_000) -> dict:
    """How many times faster `faster` ran than `slower` (ratio of medians) in one round-robin, with a
    paired bootstrap 95% interval over the sentences."""
    a, b = np.asarray(times[slower]), np.asarray(times[faster])
    return {"ratio": float(_ratio_of_medians(a, b, None)),
            "ci95": paired_bootstrap_ci(a, b, _ratio_of_medians, seed, n_resamples)}
