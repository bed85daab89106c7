"""The DistilBERT-shaped classifier: the reference model's architecture, measured without its weights."""

import json

import pytest
import torch

from helpers import distilbert_shaped, load_classifier, run_shape_comparison, shape_rows


def test_distilbert_shape_has_the_reference_architecture(shared_model):
    tokenizer = load_classifier(str(shared_model)).tokenizer  # bert-base-uncased vocabulary, like DistilBERT
    shaped = distilbert_shaped(tokenizer, seed=0)
    config = shaped.model.config
    assert (config.n_layers, config.dim, config.vocab_size, config.num_labels) == (6, 768, 30522, 2)
    assert 66e6 < sum(p.numel() for p in shaped.model.parameters()) < 68e6
    batch = shaped.tokenizer(["a fine film", "flat"], padding=True, return_tensors="pt")
    assert "token_type_ids" not in batch  # DistilBERT takes no token types
    assert "token_type_ids" in tokenizer(["a fine film"])  # the caller's tokenizer is left alone
    with torch.inference_mode():
        assert shaped.model(**batch).logits.shape == (2, 2)
    again = distilbert_shaped(tokenizer, seed=0)
    assert torch.equal(again.model.classifier.weight, shaped.model.classifier.weight)  # seeded


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(shared_model):
    tokenizer = load_classifier(str(shared_model)).tokenizer
    tokenizer.add_tokens(["<brand-new-token>"])
    with pytest.raises(ValueError, match="30522"):
        distilbert_shaped(tokenizer)


def test_shape_comparison_writes_size_and_latency_per_route(tmp_path, shared_model, shared_data):
    out = tmp_path / "distilbert_shape.json"
    record = run_shape_comparison(str(shared_model), str(shared_data), "smoke", out, threads=1,
                                  variants="int8_dynamic_embeddings", progress=False)
    assert json.loads(out.read_text()) == record
    assert list(record["variants"]) == ["fp32", "int8_dynamic_embeddings"]
    for v in record["variants"].values():
        assert v["size_bytes"] > 0 and v["latency_ms"] == v["latency"]["median"] > 0
        assert "accuracy" not in v  # random weights: accuracy would mean nothing
    fp32, small = (record["variants"][n]["size_bytes"] for n in ("fp32", "int8_dynamic_embeddings"))
    assert small < 0.3 * fp32
    rows = {r["route"]: r for r in shape_rows(record)}
    assert rows["fp32"]["speedup"] == 1 and rows["fp32"]["size_pct"] == 100
    assert rows["int8_dynamic_embeddings"]["size_pct"] == pytest.approx(100 * small / fp32)
