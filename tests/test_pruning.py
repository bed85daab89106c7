"""Pruning and recovery fine-tuning on tiny BERT and DistilBERT classifiers with a real tokenizer."""

from types import SimpleNamespace

import pytest
import torch

from conftest import REPO
from helpers import BookError, SentimentData, load_classifier, model_bytes, quantized_copy, save_quantized
from helpers.core.anatomy import anatomy, encoder_layers, heads_per_layer
from helpers.methods.pruning import (encoder_linears, head_importance, layer_drop_loss, least_important_heads, linear_sparsity, load_pruned,
                             save_pruned, with_layers, without_heads)
from helpers.methods.training import fine_tune, mean_loss

SENTENCES = ["a gripping, beautifully acted drama", "flat and lifeless", "it is a movie , and it has a plot .",
             "not bad at all", "the cast is wonderful and the script is sharp , funny and sad", "tedious",
             "one of the year 's best films", "a mess from start to finish"]
LABELS = [1, 0, 0, 1, 1, 0, 1, 0]
DATA = SentimentData(SENTENCES, LABELS, ("negative", "positive"), "test", "train")


def _logits(clf, sentences=SENTENCES):
    batch = clf.encode(sentences)
    with torch.inference_mode():
        return clf.model(**batch).logits


@pytest.fixture(params=["tiny_bert", "tiny_distilbert"])
def tiny(request):
    return load_classifier(str(request.getfixturevalue(request.param)))


def _chapter_function(notebook: str, name: str):
    """A function as chapter `notebook` defines it on the page (the technique lives there, not in helpers),
    so the test checks the reader's code itself, not a copy of it."""
    import copy
    import json
    import textwrap
    from dataclasses import replace

    from torch.nn.utils import prune

    for cell in json.loads((REPO / "chapters" / notebook).read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and f"def {name}(" in source:
            lines = source[source.index(f"def {name}("):].splitlines()
            end = next((i for i, line in enumerate(lines[1:], 1) if line and not line[0].isspace()), len(lines))
            namespace = {"copy": copy, "prune": prune, "replace": replace, "encoder_linears": encoder_linears}
            exec(textwrap.dedent("\n".join(lines[:end])), namespace)
            return namespace[name]
    raise AssertionError(f"{notebook} defines no {name}")


def _magnitude_pruned(clf, sparsity):
    """Chapter 10's magnitude pruning (torch's own global_unstructured), run from the chapter's cell."""
    return _chapter_function("10_pruning.ipynb", "magnitude_pruned")(clf, sparsity).model


def test_linear_sparsity_counts_the_zeros_of_every_encoder_linear(tiny):
    pruned = _magnitude_pruned(tiny, 0.6)
    assert linear_sparsity(pruned) == pytest.approx(0.6, abs=0.01)
    assert linear_sparsity(tiny.model) < 0.01
    assert model_bytes(pruned) == model_bytes(tiny.model)  # zeros in a dense tensor take the same bytes


def test_sparse_storage_shrinks_only_with_zeros_and_sparse_products_agree(tiny):
    from helpers.methods.pruning import dense_vs_sparse_matmul, sparse_storage_bytes

    pruned = _magnitude_pruned(tiny, 0.9)
    assert sparse_storage_bytes(pruned) < model_bytes(pruned)  # 10% values + indices < dense
    assert sparse_storage_bytes(tiny.model) > model_bytes(tiny.model)  # no zeros: indices are pure overhead
    weight = dict(encoder_linears(pruned))[encoder_linears(pruned)[0][0]].weight
    timing = dense_vs_sparse_matmul(weight, 8, threads=1, repeats=3)
    assert timing["dense_ms"] > 0 and timing["sparse_ms"] > 0 and timing["sparsity"] > 0.5
    x = torch.randn(8, weight.shape[1])
    torch.testing.assert_close((weight.detach().to_sparse_csr() @ x.T).T, x @ weight.detach().T)


def test_removing_heads_equals_silencing_them(tiny):
    size = _attention_head_size(tiny.model)
    heads = {0: [1], 1: [0]}
    pruned = without_heads(tiny, heads)
    assert heads_per_layer(pruned.model) == [1, 1] and heads_per_layer(tiny.model) == [2, 2]
    assert model_bytes(pruned.model) < model_bytes(tiny.model)
    parts = anatomy(tiny.model)

    def silence(drop):  # zero the dropped heads' outputs before the output projection
        def hook(_module, args):
            mask = torch.ones(args[0].shape[-1])
            for h in drop:
                mask[h * size:(h + 1) * size] = 0
            return (args[0] * mask,) + args[1:]
        return hook

    hooks = [layer.get_submodule(parts.projections[3]).register_forward_pre_hook(silence(heads[i]))
             for i, layer in enumerate(encoder_layers(tiny.model))]
    try:
        silenced = _logits(tiny)
    finally:
        for h in hooks:
            h.remove()
    torch.testing.assert_close(_logits(pruned), silenced, rtol=1e-5, atol=1e-5)
    with pytest.raises(BookError, match="keep at least one"):
        without_heads(tiny, {0: [0, 1]})


def _attention_head_size(model):
    layer = encoder_layers(model)[0]
    return layer.get_submodule(anatomy(model).projections[0].rsplit(".", 1)[0]).attention_head_size


def test_head_importance_ranks_every_head_and_pruning_keeps_one_per_layer(tiny):
    importance = head_importance(tiny, DATA, batch_size=4)
    assert importance.shape == (2, 2) and (importance >= 0).all()
    torch.testing.assert_close(importance.norm(dim=1), torch.ones(2))
    chosen = least_important_heads(importance, 0.5)
    assert sum(map(len, chosen.values())) == 2 and all(len(h) < 2 for h in chosen.values())
    weakest = divmod(int(importance.flatten().argmin()), 2)
    assert weakest[1] in chosen[weakest[0]]
    assert least_important_heads(importance, 0.0) == {}


def test_dropping_layers_and_its_ranking(tiny):
    one = with_layers(tiny, [1])
    assert len(encoder_layers(one.model)) == 1 and model_bytes(one.model) < model_bytes(tiny.model)
    assert _logits(one).shape == (len(SENTENCES), 2)
    ranking = layer_drop_loss(tiny, DATA, batch_size=4)
    assert sorted(r["layer"] for r in ranking) == [0, 1]
    assert ranking[0]["loss"] == pytest.approx(mean_loss(with_layers(tiny, [1 - ranking[0]["layer"]]), DATA))
    for bad in ([], [1, 0], [2]):
        with pytest.raises(BookError, match="Keep a non-empty"):
            with_layers(tiny, bad)


def test_pruned_models_round_trip(tmp_path, tiny):
    pruned = with_layers(without_heads(tiny, {1: [0]}), [1])  # layer 1 (one head left) is all that remains
    save_pruned(pruned, tmp_path / "p")
    back = load_pruned(tmp_path / "p")
    assert heads_per_layer(back.model) == [1]
    assert torch.equal(_logits(back), _logits(pruned))
    with pytest.raises(BookError, match="holds no saved model"):
        load_pruned(tmp_path)
    save_quantized(quantized_copy(tiny), tmp_path / "q")
    with pytest.raises(BookError, match="not a pruned checkpoint.*save_quantized"):
        load_pruned(tmp_path / "q")


def test_fine_tuning_learns(tiny):
    clf = without_heads(tiny, {0: [0]})
    before = mean_loss(clf, DATA)
    losses = fine_tune(clf, DATA, steps=30, batch_size=4, lr=1e-3)
    assert len(losses) == 30 and mean_loss(clf, DATA) < before
    assert not clf.model.training
    with pytest.raises(BookError, match="steps"):
        fine_tune(clf, DATA, steps=0)


def test_fine_tuning_trains_the_same_model_whatever_ran_before(tiny):
    import copy

    runs = []
    for earlier in (1, 2):  # two different states of torch's global generator (dropout draws from it)
        torch.manual_seed(earlier)
        state = torch.random.get_rng_state()
        clf = copy.deepcopy(tiny)
        assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in clf.model.modules())
        runs.append((fine_tune(clf, DATA, steps=4, batch_size=4, lr=1e-3, seed=7), _logits(clf)))
        assert torch.equal(torch.random.get_rng_state(), state)  # the caller's generator is left as it was
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_the_learning_rate_warms_up_then_decays_to_zero():
    from helpers.methods.training import warmup_then_linear_decay

    factor = warmup_then_linear_decay(100, 0.1)
    assert [factor(s) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert factor(10) == 1.0 and factor(55) == pytest.approx(0.5) and factor(99) == pytest.approx(1 / 90)
    assert warmup_then_linear_decay(10, 0.0)(0) == 1.0
    with pytest.raises(BookError, match="warmup"):
        warmup_then_linear_decay(10, 1.0)


def test_other_architectures_are_refused():
    with pytest.raises(BookError, match="'roberta'"):
        anatomy(SimpleNamespace(config=SimpleNamespace(model_type="roberta")))


def test_training_batches_group_similar_lengths_and_cover_every_row():
    from helpers.methods.training import length_grouped_batches

    lengths = [(7 * i) % 23 + 3 for i in range(64)]
    plan = length_grouped_batches(lengths, batch_size=4, steps=32, seed=0, group=4)
    assert len(plan) == 32 and all(len(b) == 4 for b in plan)
    for epoch in (plan[:16], plan[16:]):  # each pass over the data holds every row once
        assert sorted(i for b in epoch for i in b) == list(range(64))
    padded = sum(4 * max(lengths[i] for i in b) for b in plan)
    shuffled = torch.randperm(64, generator=torch.Generator().manual_seed(0)).tolist() * 2
    padded_random = sum(4 * max(lengths[i] for i in shuffled[k:k + 4]) for k in range(0, 128, 4))
    assert padded < padded_random  # less padding than random batches of the same rows
    assert plan == length_grouped_batches(lengths, 4, 32, seed=0, group=4)
    assert plan != length_grouped_batches(lengths, 4, 32, seed=1, group=4)
    with pytest.raises(BookError):
        length_grouped_batches([], 4, 1)
