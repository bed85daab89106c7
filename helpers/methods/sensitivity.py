"""Which layers does INT8 hurt? Quantize one Linear layer at a time, compare with FP32 on held-out
sentences from the train split (never validation: choosing layers on the test set would flatter the
result), and keep the most sensitive layers in FP32 (the `int8_mixed` route)."""

from __future__ import annotations

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from ..core.errors import BookError
from ..core.models import Classifier
from ..measure.evaluation import predict
from .quantization import quantize_dynamic_int8


def linear_layer_names(model: nn.Module) -> list[str]:
    """Every nn.Linear of the model, in module order."""
    return [name for name, m in model.named_modules() if type(m) is nn.Linear]


def p_positive(clf: Classifier, sentences: list[str], batch_size: int = 32) -> np.ndarray:
    """P(positive) for each sentence: the reference that a quantized copy's drift is measured against."""
    result = predict(clf, sentences, batch_size)
    return np.asarray(result.probabilities)[:, clf.positive_index]


def drift(reference: np.ndarray, other: np.ndarray) -> dict:
    """How far predictions moved from the reference's: flipped decisions and |ΔP(positive)|."""
    return {"flipped": int(((reference > 0.5) != (other > 0.5)).sum()),
            "mean_abs_dp": float(np.abs(reference - other).mean()),
            "max_abs_dp": float(np.abs(reference - other).max())}


def with_int8_layers(clf: Classifier, layers: set[str]) -> Classifier:
    """The classifier with only `layers` dynamically quantized (a copy; the original is untouched)."""
    return clf.with_model(quantize_dynamic_int8(clf.model, layers=layers))


def keep_fp32(clf: Classifier, ranking: list[dict], k: int) -> Classifier:
    """The classifier with the `k` most sensitive layers of `ranking` in FP32 and the other Linear layers INT8."""
    if not 0 <= k <= len(ranking):
        raise BookError(f"k must be between 0 and {len(ranking)}, got {k}.")
    return with_int8_layers(clf, {r["layer"] for r in ranking[k:]})


def layer_sensitivity(clf: Classifier, sentences: list[str], batch_size: int = 32, progress: bool = False,
                      reference: np.ndarray | None = None) -> list[dict]:
    """For each Linear layer, quantized alone: its drift from FP32 on `sentences`, most sensitive first.

    `reference`: the FP32 model's `p_positive` on `sentences`, if already computed."""
    if not sentences:
        raise BookError("Sensitivity needs sentences (from the train split).")
    reference = p_positive(clf, sentences, batch_size) if reference is None else reference
    rows = []
    for name in tqdm(linear_layer_names(clf.model), desc="layers", disable=not progress):
        rows.append({"layer": name, **drift(reference, p_positive(with_int8_layers(clf, {name}), sentences,
                                                                     batch_size))})
    return sorted(rows, key=lambda r: (r["flipped"], r["mean_abs_dp"]), reverse=True)


def mixed_precision_scan(clf: Classifier, ranking: list[dict], sentences: list[str], ks: tuple[int, ...],
                         batch_size: int = 32, reference: np.ndarray | None = None,
                         labels: list[int] | None = None) -> list[dict]:
    """Drift from FP32 when the `k` most sensitive layers stay FP32 and the rest are INT8, for each k; with
    `labels`, each k's accuracy on `sentences` too."""
    if labels is not None and len(labels) != len(sentences):
        raise BookError(f"{len(labels)} labels for {len(sentences)} sentences.")
    reference = p_positive(clf, sentences, batch_size) if reference is None else reference
    positive = clf.positive_index
    rows = []
    for k in ks:
        mixed = p_positive(keep_fp32(clf, ranking, k), sentences, batch_size)
        row = {"k": k, "fp32_layers": [r["layer"] for r in ranking[:k]], **drift(reference, mixed)}
        if labels is not None:  # label ids as `evaluate` compares them: the model's class index
            predicted = np.where(mixed > 0.5, positive, 1 - positive)
            row["accuracy"] = float((predicted == np.asarray(labels)).mean())
        rows.append(row)
    return rows


def pick_k(scan: list[dict]) -> int:
    """The smallest k with the best accuracy in a labelled scan: an FP32 layer is kept only where it buys
    accuracy on the sentences the scan measured."""
    if not scan or any("accuracy" not in r for r in scan):
        raise BookError("pick_k needs a scan measured with labels (mixed_precision_scan(..., labels=...)).")
    best = max(r["accuracy"] for r in scan)
    return min(r["k"] for r in scan if r["accuracy"] == best)


def mixed_precision_tradeoff(clf: Classifier, ranking: list[dict], ks: tuple[int, ...], examples,
                             timed_sentences: list[str], threads: int, batch_size: int = 32) -> list[dict]:
    """For each k (the k most sensitive layers FP32, the rest INT8): accuracy with its 95% interval on
    `examples` (validation: k was already chosen on train sentences), size and median batch-1 latency."""
    from ..measure.measurement import measure_briefly

    return [{"k": k, **measure_briefly(keep_fp32(clf, ranking, k), examples, timed_sentences, threads, batch_size)}
            for k in ks]
