"""Predictions and accuracy of a classifier over sentences, batched, with truncation reported."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..core.errors import BookError
from ..core.models import Classifier
from ..data.sst2 import SentimentData

PADDINGS = ("longest", "max_length")
# "length": batches of sentences of similar length (little padding; about half the time of "data" here),
# answers returned in data order. "data": batches of neighbours in the data, as a naive loop makes them.
ORDERS = ("length", "data")


@dataclass
class Predictions:
    """Labels and class probabilities for each sentence, and which sentences were truncated."""

    labels: list[int]
    probabilities: list[list[float]]
    truncated: list[int]  # indices of sentences cut to max_length tokens
    max_length: int
    logits: list[list[float]]  # the model's raw scores, per sentence and class


@dataclass
class Evaluation:
    """Accuracy over a split and exactly how it was computed."""

    accuracy: float
    predictions: list[int]
    n_examples: int
    batch_size: int
    padding: str
    max_length: int
    n_truncated: int
    seconds: float
    probabilities: list[list[float]] | None = None  # per sentence, per class
    logits: list[list[float]] | None = None  # per sentence, per class
    order: str = "length"  # how sentences were grouped into batches (see ORDERS)

    def settings(self) -> dict:
        return {"batch_size": self.batch_size, "padding": self.padding, "max_length": self.max_length,
                "order": self.order}


def check_sentences(sentences) -> list[str]:
    """Refuse an empty list, non-strings and blank sentences (they have no sentiment to predict)."""
    if isinstance(sentences, str):
        sentences = [sentences]
    sentences = list(sentences)
    if not sentences:
        raise BookError("No sentences to classify.")
    bad = [i for i, s in enumerate(sentences) if not isinstance(s, str) or not s.strip()]
    if bad:
        raise BookError(f"Empty or non-text sentences at positions {bad[:5]}: give each sentence some words.")
    return sentences


def check_batching(batch_size: int, padding: str, order: str = "length") -> None:
    """Refuse a batch size below 1 and unknown padding strategies or batch orders."""
    if batch_size < 1:
        raise BookError(f"batch_size must be at least 1, got {batch_size}.")
    if padding not in PADDINGS:
        raise BookError(f"padding must be one of {PADDINGS}, got {padding!r}.")
    if order not in ORDERS:
        raise BookError(f"order must be one of {ORDERS}, got {order!r}.")


def token_lengths(clf: Classifier, sentences: list[str]) -> list[int]:
    """Untruncated token counts (special tokens included)."""
    return [len(ids) for ids in clf.tokenizer(sentences, truncation=False, verbose=False)["input_ids"]]


def predict(
    clf: Classifier,
    sentences,
    batch_size: int = 32,
    padding: str = "longest",
    progress: bool = False,
    order: str = "length",
) -> Predictions:
    """Classify sentences in batches; sentences over `clf.max_length` tokens are truncated (and listed).

    `order="length"` batches sentences of similar length together (less padding, less time); either
    way the answers come back in the order of `sentences`. Models whose activation scales are computed
    per batch (dynamic INT8) answer slightly differently for different batches: chapter 4 measures it.
    """
    sentences = check_sentences(sentences)
    check_batching(batch_size, padding, order)
    lengths = token_lengths(clf, sentences)
    truncated = [i for i, n in enumerate(lengths) if n > clf.max_length]
    ranked = shortest_first(lengths) if order == "length" else list(range(len(sentences)))
    labels, probabilities, logits = [None] * len(sentences), [None] * len(sentences), [None] * len(sentences)
    starts = range(0, len(sentences), batch_size)
    for start in tqdm(starts, desc="batches", disable=not progress, leave=False):
        rows = ranked[start : start + batch_size]
        # Inputs are ordinary tensors, made outside inference mode, everywhere in the book: a compiled
        # model guards on the kind of tensor it was compiled for and would compile again for the other.
        batch = clf.encode([sentences[i] for i in rows], padding=padding)
        with torch.inference_mode():
            scores = clf.model(**batch).logits.float()
        probs = torch.softmax(scores, dim=-1)
        for i, label, p, z in zip(rows, probs.argmax(dim=-1).tolist(), probs.tolist(), scores.tolist()):
            labels[i], probabilities[i], logits[i] = label, p, z
    return Predictions(labels, probabilities, truncated, clf.max_length, logits)


def shortest_first(lengths: list[int]) -> list[int]:
    """Indices of `lengths`, shortest first (ties in order): batches of neighbours need little padding."""
    return sorted(range(len(lengths)), key=lambda i: (lengths[i], i))


def by_length(clf: Classifier, sentences: list[str]) -> list[int]:
    """Indices of `sentences`, fewest tokens first (ties in order)."""
    return shortest_first(token_lengths(clf, sentences))


def evaluate(
    clf: Classifier, data: SentimentData, batch_size: int = 32, padding: str = "longest", progress: bool = True,
    order: str = "length",
) -> Evaluation:
    """Accuracy of `clf` on every example of `data` (batched as `predict` does)."""
    start = time.perf_counter()
    result = predict(clf, data.sentences, batch_size, padding, progress, order)
    seconds = time.perf_counter() - start
    correct = sum(p == y for p, y in zip(result.labels, data.labels))
    return Evaluation(
        accuracy=correct / len(data),
        predictions=result.labels,
        n_examples=len(data),
        batch_size=batch_size,
        padding=padding,
        max_length=clf.max_length,
        n_truncated=len(result.truncated),
        seconds=seconds,
        probabilities=result.probabilities,
        logits=result.logits,
        order=order,
    )


def disagreements(a: list[int], b: list[int]) -> list[int]:
    """Indices where two prediction lists differ."""
    if len(a) != len(b):
        raise BookError(f"Prediction lists differ in length ({len(a)} vs {len(b)}).")
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
