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
    assert list(record["routes"]) == ["fp32", "int8_dynamic_embeddings"]
    for v in record["routes"].values():
        assert v["size_bytes"] > 0 and v["latency"]["median"] > 0
        assert "accuracy" not in v and "random weights" in v["absent"]["accuracy"]  # it would mean nothing
    fp32, small = (record["routes"][n]["size_bytes"] for n in ("fp32", "int8_dynamic_embeddings"))
    assert small < 0.3 * fp32
    rows = {r["route"]: r for r in shape_rows(record)}
    assert rows["fp32"]["speedup"] == 1 and rows["fp32"]["size_pct"] == 100
    assert rows["int8_dynamic_embeddings"]["size_pct"] == pytest.approx(100 * small / fp32)


def test_a_shape_record_is_measured_once_and_its_random_weights_are_not_stored(tmp_path, shared_model, shared_data):
    def run():
        return run_shape_comparison(str(shared_model), str(shared_data), "smoke", tmp_path / "results" / "s.json",
                                    threads=1, variants="distilled_int8_dynamic", progress=False)

    first, second = run(), run()
    assert {v["provenance"]["this_run"] for v in first["routes"].values()} == {"measured"}
    assert {v["provenance"]["this_run"] for v in second["routes"].values()} == {"reused from the store"}
    for name, v in first["routes"].items():
        w = second["routes"][name]
        assert (w["size_bytes"], w["checkpoint_bytes"], w["setup_seconds"]) == (
            v["size_bytes"], v["checkpoint_bytes"], v["setup_seconds"])
    store = tmp_path / "store"
    assert (store / "measurements").is_dir() and not (store / "models").exists()
    # a stacked route whose parent's measurement is reused builds that parent again, once
    for path in (store / "measurements" / "distilled_int8_dynamic").iterdir():
        path.unlink()
    third = run()
    assert third["routes"]["distilled_int8_dynamic"]["provenance"]["this_run"] == "measured"
    assert third["routes"]["distilled"]["provenance"]["this_run"] == "reused from the store"


def test_the_smoke_profile_leaves_most_routes_at_this_shape_to_the_full_build(tmp_path, shared_model,
                                                                               shared_data):
    record = run_shape_comparison(str(shared_model), str(shared_data), "smoke", tmp_path / "s.json", threads=1,
                                  variants="fp32_compiled,onnx_int8_optimized", progress=False)
    for name in ("fp32_compiled", "onnx_int8_optimized"):
        assert "full build measures every route" in record["routes"][name]["skipped"]
    assert "latency" in record["routes"]["fp32"]


def test_the_smoke_shape_routes_exist_with_their_parents_and_cover_what_chapter_14_quotes():
    from helpers.measure.profiles import PROFILES
    from helpers.routes.variants import VARIANTS

    routes = PROFILES["smoke"].shape_routes
    assert PROFILES["full"].shape_routes is None
    assert set(routes) <= set(VARIANTS)
    assert all(VARIANTS[n].parent in routes for n in routes if VARIANTS[n].parent)
    assert {"fp32", "int8_dynamic", "int8_dynamic_embeddings"} <= set(routes)
    assert any(VARIANTS[n].precision == "fp32" for n in routes if n != "fp32")  # a fastest FP32 route
