"""Knowledge distillation (Hinton et al., 2015): a smaller student learns from the teacher's softened
probabilities as well as from the labels. The student starts from alternate teacher layers, as
DistilBERT did (Sanh et al., 2019), ending with the last one, whose output the classifier head reads."""

from __future__ import annotations

import time

import torch
from torch import nn

from ..core.anatomy import encoder_layers
from ..core.errors import BookError
from ..core.models import Classifier
from ..data.sst2 import SentimentData
from ..measure.evaluation import predict
from .configs import Distilled
from .pruning import with_layers
from .training import Loss, accuracy_curve, fine_tune


def teacher_logits(teacher: Classifier, data: SentimentData, batch_size: int = 64) -> torch.Tensor:
    """The teacher's logits for every sentence of `data`, in its order, computed once (training then never
    runs the teacher); `predict` batches them by length and puts them back in order."""
    return torch.tensor(predict(teacher, data.sentences, batch_size).logits)


def alternate_layers(n: int) -> list[int]:
    """Every other layer of `n`, ending with the last: [1, 3, 5] of 6, [0, 2, 4] of 5."""
    return list(range((n - 1) % 2, n, 2))


def student_from_teacher(teacher: Classifier, keep: list[int] | None = None) -> Classifier:
    """A student with the teacher's embeddings, head and the encoder layers `keep` (default:
    `alternate_layers`), copied."""
    n = len(encoder_layers(teacher.model))
    return with_layers(teacher, keep if keep is not None else alternate_layers(n))


def distillation_loss(soft_targets: torch.Tensor, temperature: float = 2.0, alpha: float = 0.5) -> Loss:
    """alpha · T² · KL(teacher ‖ student at temperature T) + (1 − alpha) · cross-entropy with the labels.

    `soft_targets`: `teacher_logits` of the training data, row i for sentence i. T² keeps the soft term's
    gradients on the scale of the hard one (Hinton et al.)."""
    if temperature <= 0 or not 0 <= alpha <= 1:
        raise BookError(f"Need temperature > 0 and 0 ≤ alpha ≤ 1; got {temperature} and {alpha}.")

    def loss(logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        teacher = soft_targets[indices]
        soft = nn.functional.kl_div(nn.functional.log_softmax(logits / temperature, dim=-1),
                                    nn.functional.log_softmax(teacher / temperature, dim=-1),
                                    reduction="batchmean", log_target=True)
        return alpha * temperature**2 * soft + (1 - alpha) * nn.functional.cross_entropy(logits, labels)

    return loss


def distil(teacher: Classifier, train: SentimentData, config: Distilled, progress: bool = False,
           targets: torch.Tensor | None = None,
           curve_on: SentimentData | None = None) -> tuple[Classifier, list[float]]:
    """A student of alternate teacher layers trained on `train` as `config` says (steps, temperature,
    alpha, learning rate, warm-up, seed; its `train_sentences` are the caller's to take), on the
    distillation loss with the teacher's logits computed once; returns it and every step's loss.
    With `alpha` 0 that loss is the labels' cross-entropy alone: the same trainer, without a teacher.

    The book's build trains it once, for the `distilled` route, and keeps it in the store under a key of
    everything it was trained from; the distillation chapter loads that route. `targets`:
    `teacher_logits(teacher, train)` if the caller has them already (else computed here, and timed).
    `curve_on`: sentences whose accuracy is recorded along the way (`accuracy_curve`, in
    `details["curve"]`), for reading only."""
    student = student_from_teacher(teacher)
    details = {"student_layers": len(encoder_layers(student.model)),
               "teacher_layers": len(encoder_layers(teacher.model))}
    losses: list[float] = []
    steps = config.steps
    if steps:
        if targets is None:
            start = time.perf_counter()
            targets = teacher_logits(teacher, train)
            details["teacher_seconds"] = round(time.perf_counter() - start, 3)
        curve, after_step = accuracy_curve(student, curve_on, steps) if curve_on is not None else ([], None)
        losses = fine_tune(student, train, steps, lr=config.lr, seed=config.seed, progress=progress,
                           desc="distilling", loss=distillation_loss(targets, config.temperature, config.alpha),
                           warmup=config.warmup, after_step=after_step)
        details["losses"] = [round(x, 5) for x in losses]
        if curve:
            details["curve"] = {"sentences": len(curve_on), "split": curve_on.split,
                                "points": [[step, round(acc, 6)] for step, acc in curve]}
    student.details = details
    return student, losses
