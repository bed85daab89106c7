"""Training a classifier on labelled train sentences: the loop behind recovery fine-tuning and distillation."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from .data import SentimentData
from .errors import BookError
from .models import Classifier

# loss(logits, labels, indices): `indices` are the rows of the training data in this batch
Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def labelled_batches(clf: Classifier, data: SentimentData, batch_size: int):
    """(tokenized batch, labels) over `data` in order."""
    for start in range(0, len(data), batch_size):
        batch = clf.tokenizer(data.sentences[start:start + batch_size], padding=True, truncation=True,
                              max_length=clf.max_length, return_tensors="pt")
        yield batch, torch.tensor(data.labels[start:start + batch_size])


def mean_loss(clf: Classifier, data: SentimentData, batch_size: int = 32) -> float:
    """Mean cross-entropy of the classifier on labelled sentences."""
    total = 0.0
    with torch.inference_mode():
        for batch, labels in labelled_batches(clf, data, batch_size):
            total += float(nn.functional.cross_entropy(clf.model(**batch).logits, labels, reduction="sum"))
    return total / len(data)


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor, _indices: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits, labels)


def fine_tune(clf: Classifier, data: SentimentData, steps: int, batch_size: int = 32, lr: float = 3e-5,
              seed: int = 0, progress: bool = False, loss: Loss = hard_label_loss,
              desc: str = "fine-tuning") -> list[float]:
    """Train `clf` in place for `steps` batches drawn from `data` (train sentences, shuffled with `seed`,
    cycling), AdamW with linear decay, on `loss` (default: the labels); returns every step's loss."""
    if steps < 1:
        raise BookError(f"steps must be at least 1, got {steps}.")
    generator = torch.Generator().manual_seed(seed)
    model = clf.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    order = torch.randperm(len(data), generator=generator)
    losses = []
    try:
        for step in tqdm(range(steps), desc=desc, disable=not progress):
            start = (step * batch_size) % len(order)
            picked = torch.cat([order, order])[start:start + batch_size]
            batch, labels = next(labelled_batches(clf, data.subset(picked.tolist()), batch_size))
            value = loss(model(**batch).logits, labels, picked)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(value.detach()))
    finally:
        model.eval()
    return losses
