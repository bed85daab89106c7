"""The model anatomy: BERT and DistilBERT parts found by role, and one rule for a model's inputs."""

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoTokenizer

from helpers import BookError, Classifier, load_classifier
from helpers.core.anatomy import (anatomy, encoder_layers, feed_forward_linears, heads_per_layer, model_input_names,
                             model_inputs)


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_distilbert"])
def test_feed_forward_linears_widen_then_narrow_in_every_layer(request, fixture):
    model = load_classifier(str(request.getfixturevalue(fixture))).model
    found = feed_forward_linears(model)
    layers = encoder_layers(model)
    assert len(found) == 2 * len(layers)
    hidden = model.config.hidden_size if fixture == "tiny_bert" else model.config.dim
    for (first_name, first), (second_name, second) in zip(found[::2], found[1::2]):
        assert isinstance(first, torch.nn.Linear) and isinstance(second, torch.nn.Linear)
        assert first.in_features == second.out_features == hidden
        assert first.out_features == second.in_features > hidden  # the feed-forward block is wider
        assert model.get_submodule(first_name) is first and model.get_submodule(second_name) is second
    assert heads_per_layer(model) == [2] * len(layers)


def test_an_architecture_without_a_known_layout_is_named_in_the_refusal():
    with pytest.raises(BookError, match=r"\['bert', 'distilbert'\].*'roberta'"):
        anatomy(SimpleNamespace(config=SimpleNamespace(model_type="roberta")))


def test_a_bert_tokenizer_feeds_distilbert_only_the_inputs_it_takes(tiny_distilbert, tiny_bert):
    distil = load_classifier(str(tiny_distilbert))
    assert "token_type_ids" in distil.tokenizer.model_input_names  # the tiny model keeps a BERT tokenizer
    assert distil.input_names == ["input_ids", "attention_mask"]
    assert list(distil.encode(["a fine film", "flat"])) == ["input_ids", "attention_mask"]
    bert = load_classifier(str(tiny_bert))
    assert set(bert.input_names) == {"input_ids", "token_type_ids", "attention_mask"}


def test_encode_truncates_to_the_models_maximum_and_pads_to_the_longest(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    batch = clf.encode(["word " * 500, "short"])
    assert batch["input_ids"].shape == (2, clf.max_length)
    assert batch["attention_mask"][1].sum() < clf.max_length


def test_declared_inputs_decide_for_exported_graphs_and_sessions(real_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(real_tokenizer_dir)
    graph = SimpleNamespace(input_names=["attention_mask", "input_ids"])  # as an ONNX session lists them
    assert model_input_names(graph, tokenizer) == ["input_ids", "attention_mask"]  # the tokenizer's order
    assert list(model_inputs(graph, tokenizer, ["a b"])) == ["input_ids", "attention_mask"]


def test_a_model_that_takes_no_token_ids_is_refused(real_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(real_tokenizer_dir)

    class PixelModel(torch.nn.Module):
        def forward(self, pixel_values):
            return pixel_values

    with pytest.raises(BookError, match="input_ids"):
        Classifier(PixelModel(), tokenizer, "pixels", 16).encode(["a b"])
