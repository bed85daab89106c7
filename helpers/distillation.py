"""Knowledge distillation (Hinton et al., 2015): a smaller student learns from the teacher's softened
probabilities as well as from the labels. The student starts from alternate teacher layers, as
DistilBERT did (Sanh et al., 2019)."""

from __future__ import annotations

import torch
from torch import nn

from .data import SentimentData
from .errors import BookError
from .models import Classifier
from .pruning import encoder_layers, with_layers
from .training import Loss, labelled_batches


def teacher_logits(teacher: Classifier, data: SentimentData, batch_size: int = 64) -> torch.Tensor:
    """The teacher's logits for every sentence of `data`, computed once (training then never runs the teacher)."""
    with torch.inference_mode():
        return torch.cat([teacher.model(**batch).logits.float() for batch, _ in
                          labelled_batches(teacher, data, batch_size)])


def student_from_teacher(teacher: Classifier, keep: list[int] | None = None) -> Classifier:
    """A student with the teacher's embeddings, head and the encoder layers `keep` (default: every other
    one, starting with the first), copied."""
    n = len(encoder_layers(teacher.model))
    return with_layers(teacher, keep if keep is not None else list(range(0, n, 2)))


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
