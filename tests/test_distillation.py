"""Distillation on tiny BERT and DistilBERT classifiers with a real tokenizer."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from helpers import BookError, SentimentData, load_classifier, save_classifier
from helpers.methods.configs import Distilled
from helpers.methods.distillation import (alternate_layers, distil, distillation_loss, student_from_teacher,
                                          teacher_logits)
from helpers.methods.pruning import encoder_layers
from helpers.methods.training import fine_tune

SENTENCES = ["a gripping, beautifully acted drama", "flat and lifeless", "it is a movie , and it has a plot .",
             "not bad at all", "the cast is wonderful and the script is sharp , funny and sad", "tedious"]
DATA = SentimentData(SENTENCES, [1, 0, 0, 1, 1, 0], ("negative", "positive"), "test", "train")


@pytest.fixture(params=["tiny_bert", "tiny_distilbert"])
def teacher(request):
    return load_classifier(str(request.getfixturevalue(request.param)))


def _config(**settings):
    """The `distilled` route's config, with the given settings (the rest as the registry's defaults)."""
    return Distilled(**{"train_sentences": None, "seed": 0, **settings})


def _logits(clf, sentences):
    batch = clf.encode(sentences)
    with torch.inference_mode():
        return clf.model(**batch).logits


def test_teacher_logits_are_the_teachers_row_by_row(teacher):
    targets = teacher_logits(teacher, DATA, batch_size=4)  # batched by length, returned in the data's order
    assert targets.shape == (len(SENTENCES), 2)
    for i, sentence in enumerate(SENTENCES):
        torch.testing.assert_close(targets[i], _logits(teacher, [sentence])[0], rtol=1e-4, atol=1e-5)


def test_the_student_copies_every_other_teacher_layer_ending_with_the_last(teacher):
    assert alternate_layers(6) == [1, 3, 5] and alternate_layers(5) == [0, 2, 4] and alternate_layers(1) == [0]
    student = student_from_teacher(teacher)
    assert len(encoder_layers(student.model)) == 1 and len(encoder_layers(teacher.model)) == 2
    last_t, only_s = encoder_layers(teacher.model)[1], encoder_layers(student.model)[0]
    assert all(torch.equal(a, b) for a, b in zip(last_t.state_dict().values(), only_s.state_dict().values()))
    assert len(encoder_layers(teacher.model)) == 2  # the teacher is untouched


def test_the_learning_curve_reads_accuracy_without_changing_what_is_trained(teacher):
    plain, _ = distil(teacher, DATA, _config(steps=4, lr=1e-3))
    watched, _ = distil(teacher, DATA, _config(steps=4, lr=1e-3), curve_on=DATA.subset([0, 1, 2, 3]))
    assert torch.equal(_logits(plain, SENTENCES), _logits(watched, SENTENCES))
    curve = watched.details["curve"]
    steps = [step for step, _ in curve["points"]]
    assert steps == [0, 1, 2, 3, 4] and curve["sentences"] == 4 and "curve" not in plain.details
    final = sum(p == y for p, y in zip(_logits(watched, SENTENCES[:4]).argmax(-1).tolist(), DATA.labels[:4])) / 4
    assert curve["points"][-1][1] == pytest.approx(final)


def test_the_loss_mixes_soft_targets_and_labels():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    labels, rows = torch.tensor([0, 1]), torch.tensor([0, 1])
    hard = nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(distillation_loss(logits, alpha=0.0)(logits, labels, rows), hard)
    assert float(distillation_loss(logits, alpha=1.0)(logits, labels, rows)) == pytest.approx(0, abs=1e-6)
    teacher = torch.tensor([[-1.0, 1.0], [1.0, -1.0]])  # a teacher that disagrees costs more
    assert distillation_loss(teacher, alpha=1.0)(logits, labels, rows) > 0.1
    with pytest.raises(BookError, match="temperature"):
        distillation_loss(logits, temperature=0)


def test_a_distilled_student_learns_the_teacher_and_round_trips(tmp_path, teacher):
    targets = teacher_logits(teacher, DATA)
    student = student_from_teacher(teacher)
    with torch.no_grad():  # start the student's head elsewhere, so there is something to learn
        torch.manual_seed(1)
        student.model.classifier.weight.normal_(0, 1.0)
    loss = distillation_loss(targets, temperature=2.0, alpha=1.0)
    rows = torch.arange(len(SENTENCES))

    def gap():
        return float(loss(_logits(student, SENTENCES), torch.tensor(DATA.labels), rows))

    before = gap()
    fine_tune(student, DATA, steps=25, batch_size=3, lr=1e-3, loss=loss)
    assert gap() < before / 2
    save_classifier(student, tmp_path / "student")
    back = load_classifier(str(tmp_path / "student"))
    assert len(encoder_layers(back.model)) == 1
    assert torch.equal(_logits(back, SENTENCES), _logits(student, SENTENCES))


def test_distil_records_its_losses_and_times_the_teacher_only_when_it_computes_the_targets(teacher):
    student, losses = distil(teacher, DATA, _config(steps=3))
    assert len(losses) == 3 and student.details["losses"] == [round(x, 5) for x in losses]
    assert "teacher_seconds" in student.details  # computed (and timed) inside, since none were given
    given, given_losses = distil(teacher, DATA, _config(steps=3), targets=teacher_logits(teacher, DATA))
    assert len(given_losses) == 3 and "teacher_seconds" not in given.details
    assert given_losses == losses  # the same targets, whoever computed them


def test_distilling_with_alpha_zero_is_fine_tuning_on_the_labels(teacher):
    config = _config(steps=4, lr=1e-3, alpha=0.0, warmup=0.25, seed=3)
    distilled, losses = distil(teacher, DATA, config)
    plain = student_from_teacher(teacher)
    plain_losses = fine_tune(plain, DATA, 4, lr=1e-3, warmup=0.25, seed=3)
    assert losses == pytest.approx(plain_losses, rel=1e-5)
    torch.testing.assert_close(_logits(distilled, SENTENCES), _logits(plain, SENTENCES))
    moved = distil(teacher, DATA, replace(config, alpha=0.9))[0]  # the teacher's targets count again
    assert not torch.allclose(_logits(moved, SENTENCES), _logits(plain, SENTENCES))
