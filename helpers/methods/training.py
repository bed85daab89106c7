"""Training a classifier on labelled train sentences: the loop behind recovery fine-tuning and distillation.

Batches group sentences of similar length (as Hugging Face's `group_by_length` does): a batch is padded
to its longest sentence, and SST-2's train phrases range from 3 to 60 tokens, so random batches would
spend about two thirds of the compute on padding.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.errors import BookError
from ..core.models import Classifier
from ..data.sst2 import SentimentData
from ..measure.evaluation import by_length, evaluate, token_lengths

# loss(logits, labels, indices): `indices` are the rows of the training data in this batch
Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def length_grouped_batches(lengths: list[int], batch_size: int, steps: int, seed: int = 0,
                           group: int = 8) -> list[list[int]]:
    """`steps` batches of row indices for training. Each pass over the data is shuffled, cut into groups
    of `group` batches, each group sorted by length and cut into batches, and the batches shuffled:
    every row once per pass, neighbours of similar length in each batch."""
    if steps < 1 or batch_size < 1 or not lengths:
        raise BookError(f"Need at least one step, batch size and row; got {steps}, {batch_size}, {len(lengths)}.")
    generator = torch.Generator().manual_seed(seed)
    batches: list[list[int]] = []
    while len(batches) < steps:
        order = torch.randperm(len(lengths), generator=generator).tolist()
        epoch = []
        for start in range(0, len(order), group * batch_size):
            chunk = sorted(order[start:start + group * batch_size], key=lambda i: lengths[i])
            epoch += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        batches += [epoch[i] for i in torch.randperm(len(epoch), generator=generator).tolist()]
    return batches[:steps]


def labelled_batches(clf: Classifier, data: SentimentData, batch_size: int):
    """(tokenized batch, labels) over `data` in order."""
    for start in range(0, len(data), batch_size):
        batch = clf.encode(data.sentences[start:start + batch_size])
        yield batch, torch.tensor(data.labels[start:start + batch_size])


def mean_loss(clf: Classifier, data: SentimentData, batch_size: int = 32) -> float:
    """Mean cross-entropy of the classifier on labelled sentences (batched by length: the sum ignores order)."""
    total = 0.0
    with torch.inference_mode():
        for batch, labels in labelled_batches(clf, data.subset(by_length(clf, data.sentences)), batch_size):
            total += float(nn.functional.cross_entropy(clf.model(**batch).logits, labels, reduction="sum"))
    return total / len(data)


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor, _indices: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits, labels)


def warmup_then_linear_decay(steps: int, warmup: float) -> Callable[[int], float]:
    """The learning-rate factor at each step: up from near 0 to 1 over the first `warmup` fraction of the
    steps, then down to 0 at the last (as Hugging Face's `get_linear_schedule_with_warmup`)."""
    if not 0 <= warmup < 1:
        raise BookError(f"warmup is a fraction of the steps in [0, 1), got {warmup}.")
    rise = int(warmup * steps)
    return lambda step: (step + 1) / rise if step < rise else (steps - step) / max(1, steps - rise)


TRAIN_BATCH = 32  # sentences per training step


def fine_tune(clf: Classifier, data: SentimentData, steps: int, batch_size: int = TRAIN_BATCH, lr: float = 3e-5,
              seed: int = 0, progress: bool = False, loss: Loss = hard_label_loss,
              desc: str = "fine-tuning", warmup: float = 0.0,
              after_step: Callable[[int], None] | None = None) -> list[float]:
    """Train `clf` in place for `steps` batches drawn from `data` (train sentences; batches of similar
    lengths, shuffled with `seed`, see `length_grouped_batches`), AdamW with a linear warm-up over the
    `warmup` fraction of the steps and linear decay, on `loss` (default: the labels); returns every step's
    loss. `after_step(step)` runs after each step with the model in eval mode (e.g. `accuracy_curve`).

    Dropout draws from torch's global generator, seeded here with `seed` (and restored afterwards):
    the same inputs train the same model whatever ran before in the process."""
    if steps < 1:
        raise BookError(f"steps must be at least 1, got {steps}.")
    plan = length_grouped_batches(token_lengths(clf, data.sentences), batch_size, steps, seed)
    model = clf.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, fused=True)  # one kernel: 5× faster step on CPU
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear_decay(steps, warmup))
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            _train(model, clf, data, plan, batch_size, loss, optimizer, schedule, losses, desc, progress,
                   after_step)
        finally:
            model.eval()
    return losses


def _train(model, clf, data, plan, batch_size, loss, optimizer, schedule, losses, desc, progress,
           after_step) -> None:
    for step, rows in enumerate(tqdm(plan, desc=desc, disable=not progress), 1):
        batch, labels = next(labelled_batches(clf, data.subset(rows), batch_size))
        value = loss(model(**batch).logits, labels, torch.tensor(rows))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(value.detach()))
        if after_step is not None:
            model.eval()
            after_step(step)
            model.train()


def accuracy_curve(clf: Classifier, data: SentimentData, steps: int,
                   points: int = 8) -> tuple[list[tuple[int, float]], Callable[[int], None]]:
    """A learning curve to fill while `fine_tune` trains `clf` for `steps`: the list of (step, accuracy on
    `data`), starting with step 0 now, and the `after_step` that adds `points` more, evenly spaced.
    Reading only: evaluation runs in inference mode and draws no random numbers, so the weights trained
    are the same with or without it."""
    marks = {round(steps * (i + 1) / points) for i in range(points)}
    curve = [(0, evaluate(clf, data, progress=False).accuracy)]

    def after_step(step: int) -> None:
        if step in marks:
            curve.append((step, evaluate(clf, data, progress=False).accuracy))

    return curve, after_step


def fidelity_curve(clf: Classifier, data: SentimentData, reference: torch.Tensor, steps: int,
                   points: int = 8) -> tuple[list[tuple[int, float, float]], Callable[[int], None]]:
    """As `accuracy_curve`, with each point (step, accuracy on `data`, mean KL divergence from the
    `reference` logits of `data` to the model's, at temperature 1): how far the model's answers have moved
    from a reference's, a signal that keeps falling where accuracy on sentences the reference was trained
    on is saturated."""
    marks = {round(steps * (i + 1) / points) for i in range(points)}

    def point(step: int) -> tuple[int, float, float]:
        result = evaluate(clf, data, progress=False)
        kl = nn.functional.kl_div(nn.functional.log_softmax(torch.tensor(result.logits), -1),
                                  nn.functional.log_softmax(reference, -1), reduction="batchmean", log_target=True)
        return step, result.accuracy, float(kl)

    curve = [point(0)]

    def after_step(step: int) -> None:
        if step in marks:
            curve.append(point(step))

    return curve, after_step
